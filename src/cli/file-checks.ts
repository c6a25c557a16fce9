/**
 * The files `serve` opens at start-up, checked the way serve would use them, each problem in plain words
 * naming the setting, its flag and the file: CA bundles (oidc.caFile and the other CA settings), the TLS
 * pair (readable, PEM, the key belongs to the certificate), and the audit log's directory (exists,
 * writable). `serve` runs {@link checkCaFiles} before starting (Node ignores a CA file that holds no
 * certificate, so a garbage file would otherwise only show as "not trusted" later); `check-config` runs all.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { flagForPath } from '../config/flags.js';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const label = (path: string) => {
  const flag = flagForPath(path);
  return `${path}${flag ? ` (${flag})` : ''}`;
};

const reason = (err: unknown) => {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a directory, not a file';
  return e.message;
};

function read(file: string, setting: string, issues: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    issues.push(`${label(setting)}: cannot read ${file}: ${reason(err)}`);
    return undefined;
  }
}

/** Every CA bundle setting present in the config: it must hold at least one readable PEM certificate. */
export function checkCaFiles(config: Readonly<Config>): string[] {
  const issues: string[] = [];
  const files: [string, string | undefined][] = [
    ['oidc.caFile', config.oidc?.caFile],
    ['elevation.notify.caFile', config.elevation?.notify?.caFile],
    ['loginPage.kubeconfig.certificateAuthorityFile', config.loginPage?.kubeconfig?.certificateAuthorityFile],
  ];
  for (const [setting, file] of files) {
    if (file === undefined) continue;
    const pem = read(file, setting, issues);
    if (pem === undefined) continue;
    const blocks = pem.match(PEM_CERT) ?? [];
    if (blocks.length === 0) {
      issues.push(`${label(setting)}: ${file} holds no PEM certificate (expected one or more -----BEGIN CERTIFICATE----- blocks)`);
      continue;
    }
    blocks.forEach((block, i) => {
      try {
        new X509Certificate(block);
      } catch (err) {
        issues.push(`${label(setting)}: certificate ${i + 1} in ${file} is not a valid certificate: ${(err as Error).message}`);
      }
    });
  }
  return issues;
}

/** The serving certificate and key: readable, PEM, and the key belongs to the certificate. */
export function checkTlsPair(config: Readonly<Config>): string[] {
  const issues: string[] = [];
  const certFile = config.server.tlsCertFile;
  const keyFile = config.server.tlsPrivateKeyFile;
  const certPem = read(certFile, 'server.tlsCertFile', issues);
  const keyPem = read(keyFile, 'server.tlsPrivateKeyFile', issues);
  let cert: X509Certificate | undefined;
  if (certPem !== undefined) {
    const first = certPem.match(PEM_CERT)?.[0];
    if (first === undefined) issues.push(`${label('server.tlsCertFile')}: ${certFile} holds no PEM certificate`);
    else {
      try {
        cert = new X509Certificate(first);
      } catch (err) {
        issues.push(`${label('server.tlsCertFile')}: ${certFile} is not a valid certificate: ${(err as Error).message}`);
      }
    }
  }
  if (keyPem !== undefined) {
    try {
      const key = createPrivateKey(keyPem);
      if (cert && !cert.checkPrivateKey(key)) {
        issues.push(`${label('server.tlsPrivateKeyFile')}: the key in ${keyFile} does not belong to the certificate in ${certFile}`);
      }
    } catch {
      issues.push(`${label('server.tlsPrivateKeyFile')}: ${keyFile} holds no readable PEM private key (an encrypted key is not supported)`);
    }
  }
  return issues;
}

/** The audit log: its directory exists and is writable; an existing file is a writable regular file. */
export function checkAuditPath(config: Readonly<Config>): string[] {
  const file = config.audit.logPath;
  if (file === '-') return [];
  const where = label('audit.logPath');
  const dir = dirname(resolve(file));
  try {
    if (!statSync(dir).isDirectory()) return [`${where}: ${dir} (the directory of ${file}) is not a directory`];
  } catch {
    return [`${where}: the directory ${dir} does not exist; create it (kubegate does not)`];
  }
  try {
    const st = statSync(file);
    if (!st.isFile()) return [`${where}: ${file} exists and is not a regular file`];
    accessSync(file, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') return [`${where}: ${file} is not writable by this user (uid ${process.getuid?.() ?? '?'})`];
    if (code !== 'ENOENT') return [`${where}: ${file}: ${reason(err)}`];
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
    } catch {
      return [`${where}: cannot create ${file}: the directory ${dir} is not writable by this user (uid ${process.getuid?.() ?? '?'})`];
    }
  }
  return [];
}
