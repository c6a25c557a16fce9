/**
 * Part of the RECORDING FAKE API server (fake-apiserver.ts): answers `SubjectAccessReview`s from a small
 * table of allowed (subject, attributes) a test sets, and records every review it was asked. It is not an
 * authorizer: no roles, no bindings, no aggregation — exact matches, `name` omitted meaning any name.
 * Reviews are kubegate's own API calls: the fake checks they carry kubegate's credential and no
 * impersonation (ownRoute).
 */
import type { IncomingMessage } from 'node:http';
import { json, status, type FakeApiServer } from './fake-apiserver.js';

export interface Grant {
  /** Who: a username or a group (one of them). */
  user?: string;
  group?: string;
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  /** Omitted: any name. */
  name?: string;
}

export interface ReviewSpec {
  user: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
  resourceAttributes: { verb: string; group: string; resource: string; subresource?: string; namespace?: string; name?: string };
}

export interface FakeRbac {
  allow(grant: Grant): void;
  /** Remove every grant. */
  reset(): void;
  /** Every review asked, in order. */
  readonly reviews: ReviewSpec[];
  /** While true, reviews fail with 503 (the authorizer is unavailable). */
  down: boolean;
}

export const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export function installFakeRbac(fake: FakeApiServer): FakeRbac {
  const grants: Grant[] = [];
  const reviews: ReviewSpec[] = [];
  const rbac: FakeRbac = {
    allow: (grant) => void grants.push(grant),
    reset: () => void grants.splice(0),
    reviews,
    down: false,
  };
  fake.ownRoute('POST', SAR_PATH, (req, res) => {
    void readJson(req).then((body) => {
      if (rbac.down) return json(res, 503, status(503, 'ServiceUnavailable', 'fake: authorizer down'));
      const spec = (body as { spec?: ReviewSpec }).spec;
      if (!spec?.resourceAttributes) return json(res, 400, status(400, 'BadRequest', 'fake: no spec.resourceAttributes'));
      reviews.push(spec);
      const a = spec.resourceAttributes;
      const allowed = grants.some(
        (g) =>
          (g.user === undefined || g.user === spec.user) &&
          (g.group === undefined || (spec.groups ?? []).includes(g.group)) &&
          (g.user !== undefined || g.group !== undefined) &&
          g.verb === a.verb &&
          g.apiGroup === (a.group ?? '') &&
          g.resource === a.resource &&
          (g.subresource ?? '') === (a.subresource ?? '') &&
          (g.namespace ?? '') === (a.namespace ?? '') &&
          (g.name === undefined || g.name === a.name),
      );
      json(res, 201, { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: {}, spec, status: allowed ? { allowed: true, reason: 'fake: granted' } : { allowed: false } });
    });
  });
  return rbac;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve({});
      }
    });
  });
}
