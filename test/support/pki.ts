/**
 * TEST / DEMO TOOLING ONLY — never use these certificates for anything real.
 *
 * Generates a throwaway P-256 CA plus server and client leaf certificates with
 * the `openssl` CLI into a fresh temp directory. Keys are unencrypted, valid
 * for 2 days, and deleted by cleanup().
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertPair { certFile: string; keyFile: string; cert: string; key: string }

export interface TestPki {
  dir: string;
  caFile: string;
  ca: string;
  /** Server cert: SAN IP:127.0.0.1, DNS:localhost (+ DNS:name if it looks like a hostname), EKU serverAuth. */
  server(name?: string): CertPair;
  /** Client cert: CN=commonName, one O= per org (Kubernetes user/groups), EKU clientAuth. */
  client(commonName: string, orgs?: string[]): CertPair;
  cleanup(): void;
}

const OPENSSL = '/usr/bin/openssl';
const DAYS = '2';
// Minimal config so the system openssl.cnf cannot inject extra extensions.
const REQ_CNF = '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n';

/** Escape an RDN value for `-subj` (/, +, =, , and \ are special). */
const rdn = (v: string) => v.replace(/[\\/+=,]/g, (c) => `\\${c}`);

function openssl(args: string[]): void {
  try {
    execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(err)}`);
  }
}

export function createPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-pki-'));
  const cnf = join(dir, 'req.cnf');
  writeFileSync(cnf, REQ_CNF);
  const caFile = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const caCnf = join(dir, 'ca.cnf');
  writeFileSync(caCnf, [
    REQ_CNF,
    '[v3_ca]',
    'basicConstraints = critical, CA:TRUE',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '',
  ].join('\n'));
  try {
    openssl([
      'req', '-x509', '-new', '-config', caCnf, '-utf8',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', caKey, '-out', caFile, '-days', DAYS,
      '-subj', '/CN=kubegate-test-ca', '-extensions', 'v3_ca',
    ]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const ca = readFileSync(caFile, 'utf8');
  let seq = 0;

  function issue(base: string, subject: string, ext: string[]): CertPair {
    const stem = join(dir, `${String(++seq).padStart(3, '0')}-${base.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}`);
    const keyFile = `${stem}.key`;
    const certFile = `${stem}.crt`;
    const csr = `${stem}.csr`;
    const extFile = `${stem}.ext`;
    writeFileSync(extFile, ['[leaf]', ...ext, ''].join('\n'));
    openssl([
      'req', '-new', '-config', cnf, '-utf8',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', keyFile, '-out', csr, '-subj', subject,
    ]);
    openssl([
      'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey,
      '-set_serial', `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}`,
      '-days', DAYS, '-sha256', '-extfile', extFile, '-extensions', 'leaf', '-out', certFile,
    ]);
    rmSync(csr, { force: true });
    rmSync(extFile, { force: true });
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }

  const leafExt = (eku: string) => [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    `extendedKeyUsage = ${eku}`,
    'authorityKeyIdentifier = keyid',
  ];

  return {
    dir,
    caFile,
    ca,
    server(name = 'localhost') {
      const san = ['IP:127.0.0.1', 'DNS:localhost'];
      if (name !== 'localhost' && /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name)) san.push(`DNS:${name}`);
      return issue(`server-${name}`, `/CN=${rdn(name)}`, [...leafExt('serverAuth'), `subjectAltName = ${san.join(', ')}`]);
    },
    client(commonName, orgs = []) {
      const subject = [...orgs.map((o) => `/O=${rdn(o)}`), `/CN=${rdn(commonName)}`].join('');
      return issue(`client-${commonName}`, subject, leafExt('clientAuth'));
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
