import * as fs from 'fs';
import * as path from 'path';
import { openssl } from './io';
import { makeTempDir } from './nats-server';

/** One certificate Secret as cert-manager lays it out, written to a directory. */
export interface CertificateFiles {
  /** The directory holding the three files. */
  readonly dir: string;
  /** `tls.crt`: the certificate. */
  readonly certFile: string;
  /** `tls.key`: its private key. */
  readonly keyFile: string;
  /** `ca.crt`: the CA that issued it. */
  readonly caFile: string;
}

/** Certificates made for one test. */
export interface TestCertificates {
  /**
   * A server certificate for `localhost` and `127.0.0.1`, valid for server and client
   * authentication, as routes need both.
   */
  readonly server: CertificateFiles;
  /** A client certificate issued by the same CA. */
  readonly client: CertificateFiles;
  /** A client certificate, and its CA, that nothing else trusts. */
  readonly stranger: CertificateFiles;
}

/**
 * Makes a CA with a server and a client certificate, plus an unrelated CA with its own client
 * certificate, with the openssl CLI in a temp dir that `stopAll()` removes. EC P-256 keys, one
 * day of validity.
 */
export async function makeCertificates(): Promise<TestCertificates> {
  const root = makeTempDir();
  const ca = await makeCa(root, 'ca', 'jetstream-cdk8s test CA');
  const strangerCa = await makeCa(root, 'stranger-ca', 'untrusted test CA');
  return {
    server: await issue(root, 'server', ca, 'localhost', ['subjectAltName=DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth,clientAuth']),
    client: await issue(root, 'client', ca, 'test-client', ['extendedKeyUsage=clientAuth']),
    stranger: await issue(root, 'stranger', strangerCa, 'stranger', ['extendedKeyUsage=clientAuth']),
  };
}

interface Ca {
  readonly certFile: string;
  readonly keyFile: string;
}

async function makeCa(root: string, name: string, commonName: string): Promise<Ca> {
  const certFile = path.join(root, `${name}.crt`);
  const keyFile = path.join(root, `${name}.key`);
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${commonName}`, '-keyout', keyFile, '-out', certFile,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { certFile, keyFile };
}

async function issue(root: string, name: string, ca: Ca, commonName: string, extensions: string[]): Promise<CertificateFiles> {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  const files = { dir, certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.crt') };
  const request = path.join(root, `${name}.csr`);
  const extensionFile = path.join(root, `${name}.ext`);
  fs.writeFileSync(extensionFile, ['keyUsage=critical,digitalSignature,keyEncipherment', ...extensions].join('\n') + '\n');
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', `/CN=${commonName}`, '-keyout', files.keyFile, '-out', request,
  ]);
  await openssl([
    'x509', '-req', '-in', request, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial',
    '-days', '1', '-extfile', extensionFile, '-out', files.certFile,
  ]);
  fs.copyFileSync(ca.certFile, files.caFile);
  return files;
}

