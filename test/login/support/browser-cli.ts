/**
 * The test browser as a command, for `$BROWSER`: `browser-cli.ts URL`. Reads the CA file, the account and
 * a log file from TEST_BROWSER_CA_FILE, TEST_BROWSER_LOGIN and TEST_BROWSER_LOG, walks the sign-in, and
 * appends one JSON line per run to the log: the URL it was given, the steps (method, path, status, form)
 * and the last status, or the error. It never logs a page body or a token. With TEST_BROWSER_GATE set, it
 * first waits (at most 30 s) until that file exists, so a test can hold a sign-in open while it looks.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { TestBrowser } from './browser.js';

const url = process.argv[2] ?? '';
const log = process.env.TEST_BROWSER_LOG ?? '';
const record = (entry: Record<string, unknown>) => {
  if (log) appendFileSync(log, `${JSON.stringify({ pid: process.pid, url, ...entry })}\n`);
};
try {
  const gate = process.env.TEST_BROWSER_GATE;
  if (gate) {
    const deadline = Date.now() + 30_000;
    while (!existsSync(gate)) {
      if (Date.now() > deadline) throw new Error(`gate ${gate} never opened`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const browser = new TestBrowser({ ca: readFileSync(process.env.TEST_BROWSER_CA_FILE ?? '', 'utf8'), login: process.env.TEST_BROWSER_LOGIN ?? 'alice' });
  const result = await browser.open(url);
  record({ steps: result.steps.map((s) => ({ method: s.method, path: new URL(s.url).pathname, status: s.status, form: s.form })), status: result.status });
} catch (err) {
  record({ error: (err as Error).message });
  process.exitCode = 1;
}
