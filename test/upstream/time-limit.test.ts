/**
 * The time limit on kubegate's own review calls (SubjectAccessReview for `kubectl --as`, TokenReview for
 * service-account passthrough): against an API server that accepts the request and never answers, each
 * call ends at its limit and the request is abandoned (the connection closes), instead of holding the
 * user's request for as long as the API server does.
 */
import t from 'tap';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { clientNodeTokenReview } from '../../src/guard/service-accounts.js';
import { clientNodeReview } from '../../src/upstream/access-review.js';
import { kubeconfigYaml } from '../support/harness.js';
import { createPki } from '../support/pki.js';
import { eventually, within } from '../support/wait.js';

const pki = createPki();
t.teardown(() => pki.cleanup());

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function hungApiServer(t: Test): Promise<{ kubeConfig: KubeConfig; asked: IncomingMessage[]; server: Server }> {
  const serving = pki.server();
  const asked: IncomingMessage[] = [];
  const server = createServer({ cert: serving.cert, key: serving.key }, (req) => void asked.push(req));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(kubeconfigYaml(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, pki.caFile, 'kubegate-own-token-0123456789'));
  return { kubeConfig, asked, server };
}

const closed = (req: IncomingMessage) => new Promise<void>((resolve) => (req.socket.destroyed ? resolve() : req.socket.once('close', () => resolve())));

t.test('a SubjectAccessReview the API server never answers ends at its limit', async (t) => {
  const { kubeConfig, asked } = await hungApiServer(t);
  const review = clientNodeReview(kubeConfig)({ user: 'alice', groups: [], resourceAttributes: { verb: 'impersonate', resource: 'users', name: 'bob' } }, 300);
  await t.rejects(within(review, 10_000, 'the review to end'), { name: 'AbortError' }, 'the call is aborted, not left waiting');
  t.equal(asked.length, 1, 'it was asked once');
  t.equal(asked[0]!.url, '/apis/authorization.k8s.io/v1/subjectaccessreviews');
  await within(closed(asked[0]!), 5000, 'the abandoned request to be closed');
});

t.test('a TokenReview the API server never answers ends at its limit', async (t) => {
  const { kubeConfig, asked } = await hungApiServer(t);
  const review = clientNodeTokenReview(kubeConfig)('a-service-account-token', 300);
  await t.rejects(within(review, 10_000, 'the review to end'), { name: 'AbortError' }, 'the call is aborted, not left waiting');
  await eventually('the review request', () => asked[0], 1000);
  t.equal(asked[0]!.url, '/apis/authentication.k8s.io/v1/tokenreviews');
  await within(closed(asked[0]!), 5000, 'the abandoned request to be closed');
});
