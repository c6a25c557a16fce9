/**
 * A minimal HTTP/1.1 keep-alive client over ONE raw TLS connection, so a test controls exactly which
 * connection a request travels on (an https.Agent may silently open a new one). Responses must carry
 * Content-Length (kubegate's own endpoints do).
 */
import { X509Certificate } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface KeepAliveConnection {
  readonly socket: TLSSocket;
  /** SHA-256 fingerprint of the certificate this connection's handshake presented. */
  readonly fingerprint: string;
  /** Whether the connection has closed (either side). */
  readonly closed: boolean;
  get(path: string, headers?: [string, string][]): Promise<RawResponse>;
  destroy(): void;
}

export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Open a TLS connection (verified against `ca`, SNI localhost) and resolve once the handshake is done. */
export function openTls(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Fingerprint of the certificate a NEW connection is served. */
export async function servedFingerprint(port: number, ca: string): Promise<string> {
  const socket = await openTls(port, ca);
  try {
    return socket.getPeerX509Certificate()!.fingerprint256;
  } finally {
    socket.destroy();
  }
}

export async function openKeepAlive(port: number, ca: string): Promise<KeepAliveConnection> {
  const socket = await openTls(port, ca);
  const fingerprint = socket.getPeerX509Certificate()!.fingerprint256;
  let closed = false;
  let buffer = Buffer.alloc(0);
  let waiting: { resolve: (r: RawResponse) => void; reject: (e: Error) => void } | undefined;

  const tryParse = () => {
    if (!waiting) return;
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const [statusLine, ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length']);
    if (!Number.isInteger(length)) {
      waiting.reject(new Error(`response without Content-Length: ${statusLine}`));
      waiting = undefined;
      return;
    }
    if (buffer.length < end + 4 + length) return;
    const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    buffer = buffer.subarray(end + 4 + length);
    const done = waiting;
    waiting = undefined;
    done.resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0), headers, body });
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    tryParse();
  });
  const onGone = (err?: Error) => {
    closed = true;
    if (waiting) {
      waiting.reject(err ?? new Error('connection closed before a complete response'));
      waiting = undefined;
    }
  };
  socket.on('close', () => onGone());
  socket.on('error', (err) => onGone(err));

  return {
    socket,
    fingerprint,
    get closed() {
      return closed;
    },
    get(path, headers = []) {
      if (closed) return Promise.reject(new Error('connection already closed'));
      if (waiting) return Promise.reject(new Error('one request at a time'));
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        socket.write([`GET ${path} HTTP/1.1`, 'Host: localhost', 'Connection: keep-alive', ...headers.map(([n, v]) => `${n}: ${v}`), '', ''].join('\r\n'));
      });
    },
    destroy() {
      socket.destroy();
    },
  };
}
