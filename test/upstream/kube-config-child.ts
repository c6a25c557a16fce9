/**
 * Child of kube-config.test.ts, in a fresh module graph: records every module the process loads (a load
 * hook registered first), loads the kubeconfig named by KUBECONFIG_FILE with importKubeConfig(), then makes
 * one SubjectAccessReview through the generated API client (loaded only then) against the https server at
 * the kubeconfig's address. Prints one JSON line: what was loaded before and after, and the review's answer.
 */
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';

const log = process.env.LOADED_FILE!;
register(
  `data:text/javascript,${encodeURIComponent(
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }\n`,
  )}`,
);
const loaded = () => readFileSync(log, 'utf8').split('\n').filter(Boolean);

const { importKubeConfig } = await import('../../src/upstream/kube-config.js');
const kc = new (await importKubeConfig())();
kc.loadFromFile(process.env.KUBECONFIG_FILE!);
const options: RequestOptions = { headers: {} };
await kc.applyToHTTPSOptions(options);
const beforeReview = loaded();

const { clientNodeReview } = await import('../../src/upstream/access-review.js');
const decision = await clientNodeReview(kc)({ user: 'jane', groups: [], resourceAttributes: { verb: 'get', resource: 'pods' } }, 5000);
process.stdout.write(
  `${JSON.stringify({ server: kc.getCurrentCluster()?.server, authorization: (options.headers as Record<string, string>).Authorization, hasCa: options.ca !== undefined, beforeReview, afterReview: loaded(), decision })}\n`,
);
