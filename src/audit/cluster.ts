/**
 * `--workers`: one writer. Workers judge records by the policy and send each finished record (one JSON
 * text) to the primary over the cluster IPC channel; the primary alone owns the log file (and its
 * rotation) and the webhook. An IPC message arrives whole, so records from different workers never
 * interleave within a line. The primary tells the workers whether the output is healthy (fail-closed).
 */
import cluster, { type Worker } from 'node:cluster';
import type { AuditOutput } from './sink.js';

const RECORD = 'kubegate.audit.record';
const HEALTH = 'kubegate.audit.healthy';

/** In a worker: records go to the primary. close() resolves once every record has been handed to the IPC channel. */
export function workerAuditOutput(): AuditOutput {
  let healthy = true;
  let pending = 0;
  let drained: (() => void) | undefined;
  process.on('message', (msg: unknown) => {
    if (typeof msg === 'object' && msg !== null && HEALTH in msg) healthy = (msg as Record<string, unknown>)[HEALTH] === true;
  });
  return {
    write(line) {
      if (!process.send) return;
      pending++;
      process.send({ [RECORD]: line }, undefined, undefined, () => {
        pending--;
        if (pending === 0) drained?.();
      });
    },
    healthy: () => healthy,
    close: () => (pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve))),
  };
}

/** In the primary: write what the workers send; tell them (and every new worker) whether the output is healthy. */
export function relayWorkerAudit(output: AuditOutput): { healthChanged(): void } {
  const tell = (worker: Worker | undefined) => {
    if (worker?.isConnected()) worker.send({ [HEALTH]: output.healthy() });
  };
  cluster.on('message', (_worker, msg: unknown) => {
    if (typeof msg !== 'object' || msg === null) return;
    const line = (msg as Record<string, unknown>)[RECORD];
    if (typeof line === 'string') output.write(line);
  });
  cluster.on('online', (worker) => tell(worker));
  return {
    healthChanged() {
      for (const worker of Object.values(cluster.workers ?? {})) tell(worker);
    },
  };
}


/** Resolves once no worker's IPC channel is open (their records have all been read). */
export function workersDisconnected(): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (Object.values(cluster.workers ?? {}).some((w) => w?.isConnected())) return;
      cluster.off('disconnect', check);
      setImmediate(resolve);
    };
    cluster.on('disconnect', check);
    check();
  });
}
