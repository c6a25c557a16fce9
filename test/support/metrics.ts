/** Reading kubegate's Prometheus endpoint in tests. */
import { request } from 'node:http';

/** GET <url>/metrics as text. */
export function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(`${url}/metrics`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

/** The value of one sample, e.g. value(text, 'kubegate_requests_total{verb="get",…}'). */
export function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
