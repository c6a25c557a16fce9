/**
 * The audit trail: the policy applied to every record (request stages and elevation events alike), then
 * the output (file/stdout and webhook, or the primary process over IPC with `--workers`).
 *
 * - Each record is judged by the policy from its own fields (user, verb, objectRef, path), so the level
 *   a request's records carry and the stages kept are the same wherever the record comes from; level
 *   None and omitted stages are never written.
 * - {@link AuditTrail.hooks} is what the request lifecycle (request/exchange.ts) calls to decide a
 *   request's level and write its earlier stages.
 * - Fail-closed (`audit.failClosed`): while the output reports records being lost, `admit()` refuses new
 *   requests with 503; by default they are served and the losses counted and logged.
 */
import cluster from 'node:cluster';
import type { Logger } from 'winston';
import type { Config } from '../config/schema.js';
import { KubegateError } from '../errors/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { AuditHooks } from '../request/exchange.js';
import { contextAttributes, stageEvent, policyAttributes, type AuditRecord } from './event.js';
import type { AuditDecision } from '../request/audit-types.js';
import { decide, DEFAULT_POLICY, loadPolicyFile, type Policy } from './policy.js';
import { createLogBackend, fanOut, type AuditBackend, type AuditOutput, type BackendEvents } from './sink.js';
import { createWebhookBackend, loadWebhookTarget } from './webhook.js';
import { relayWorkerAudit, workerAuditOutput, workersDisconnected } from './cluster.js';

export interface AuditTrail {
  /**
   * Judge a record by the policy and write it (or not). `decision`: the policy's decision for this very
   * record when the caller has it already (a request's final record: its exchange decided from the same
   * attributes, hooks.decide), so it is not judged twice.
   */
  write(record: AuditRecord, decision?: AuditDecision): void;
  readonly hooks: AuditHooks;
  /** @throws KubegateError AUDIT_FAILING when fail-closed and records are being lost. */
  admit(): void;
  healthy(): boolean;
  close(): Promise<void>;
}

export type AuditMetrics = Pick<Metrics, 'auditRecords' | 'auditDropped' | 'auditBackendHealthy'>;

export interface TrailOptions {
  policy: Policy;
  maxBodyBytes: number;
  failClosed: boolean;
  output: AuditOutput;
  metrics?: AuditMetrics | undefined;
}

export function createAuditTrail(o: TrailOptions): AuditTrail {
  /** Write `record` as decision `d` says: one JSON.stringify, the same text to every backend. */
  const emit = (record: AuditRecord, d: AuditDecision) => {
    if (d.level === 'None' || d.omitStages.includes(record.stage)) return;
    record.level = d.level;
    if (d.level === 'Metadata') {
      delete record.requestObject;
      delete record.responseObject;
    } else if (d.level === 'Request') delete record.responseObject;
    o.output.write(JSON.stringify(record));
    o.metrics?.auditRecords.inc({ result: 'written' });
  };
  const write = (record: AuditRecord, decision?: AuditDecision) => emit(record, decision ?? decide(o.policy, policyAttributes(record)));
  return {
    write,
    hooks: {
      maxBodyBytes: o.maxBodyBytes,
      // A request is judged once, by the attributes read from its context (the same ones its records carry);
      // its stage records come with that decision, so a stage the policy omits (RequestReceived by default)
      // is never built.
      decide: (ctx) => decide(o.policy, contextAttributes(ctx)),
      stage: (ctx, stage, detail) => {
        const d = detail.decision;
        if (d.level === 'None' || d.omitStages.includes(stage)) return;
        emit(stageEvent(ctx, stage, detail), d);
      },
    },
    admit() {
      if (o.failClosed && !o.output.healthy()) throw new KubegateError('AUDIT_FAILING', 'refused: the audit trail cannot be written and --audit-fail-closed is set');
    },
    healthy: () => o.output.healthy(),
    close: () => o.output.close(),
  };
}

/** The policy `audit.policyFile` names, or the default (Metadata, RequestReceived omitted). */
export function auditPolicy(config: Readonly<Config>): Policy {
  return config.audit.policyFile === undefined ? DEFAULT_POLICY : loadPolicyFile(config.audit.policyFile);
}

/** Backend events counted in the metrics and logged (the first loss after a healthy spell, then every 1000th). */
export function backendEvents(log: Logger, metrics: AuditMetrics | undefined, onHealth: (backend: string, healthy: boolean) => void = () => {}): BackendEvents {
  const lost = new Map<string, number>();
  return {
    dropped(backend, count, why) {
      metrics?.auditRecords.inc({ result: 'dropped' }, count);
      metrics?.auditDropped.inc({ backend }, count);
      const before = lost.get(backend) ?? 0;
      lost.set(backend, before + count);
      if (before === 0 || Math.floor(before / 1000) !== Math.floor((before + count) / 1000)) {
        log.error('audit records dropped', { backend, reason: why, droppedSoFar: before + count });
      }
    },
    started(backend) {
      metrics?.auditBackendHealthy.set({ backend }, 1);
    },
    health(backend, healthy) {
      metrics?.auditBackendHealthy.set({ backend }, healthy ? 1 : 0);
      if (healthy) {
        log.info('audit backend healthy again', { backend, droppedWhileUnhealthy: lost.get(backend) ?? 0 });
        lost.set(backend, 0);
      } else log.error('audit backend failing', { backend });
      onHealth(backend, healthy);
    },
  };
}

/** The backends `audit.*` configures (the log, and the webhook when set). @throws KubegateError when one cannot start. */
export async function openAuditOutput(config: Readonly<Config>, events: BackendEvents, log: Logger): Promise<AuditOutput> {
  const a = config.audit;
  const backends: AuditBackend[] = [];
  if (a.webhook !== undefined) {
    const target = await loadWebhookTarget(a.webhook.configFile);
    backends.push(
      createWebhookBackend(
        {
          configFile: a.webhook.configFile,
          mode: a.webhook.mode,
          bufferSize: a.webhook.batchBufferSize,
          batchMaxSize: a.webhook.batchMaxSize,
          batchMaxWaitMs: a.webhook.batchMaxWaitSeconds * 1000,
          initialBackoffMs: a.webhook.initialBackoffSeconds * 1000,
        },
        target,
        events,
        log,
      ),
    );
  }
  if (a.logPath !== 'none') {
    backends.push(
      createLogBackend(
        { path: a.logPath, maxSizeMB: a.logMaxSize, maxAgeDays: a.logMaxAge, maxBackups: a.logMaxBackup, compress: a.logCompress, mode: a.logMode, batchMaxSize: a.logBatchMaxSize, batchMaxWaitMs: a.logBatchMaxWaitSeconds * 1000 },
        events,
        log,
      ),
    );
  }
  for (const b of backends) events.started?.(b.name);
  return fanOut(backends);
}

export interface StartAuditOptions {
  log: Logger;
  metrics?: AuditMetrics | undefined;
  /** Where records go instead of the configured backends (embedders, tests). */
  output?: AuditOutput | undefined;
}

/**
 * The trail `audit.*` configures. In a `--workers` worker the records go to the primary (audit/cluster.ts),
 * which owns the backends. @throws KubegateError CONFIG_INVALID (policy, webhook kubeconfig) / AUDIT_UNAVAILABLE (log file).
 */
export async function startAuditTrail(config: Readonly<Config>, o: StartAuditOptions): Promise<AuditTrail> {
  const policy = auditPolicy(config);
  const output = o.output ?? (cluster.isWorker ? workerAuditOutput() : await openAuditOutput(config, backendEvents(o.log, o.metrics), o.log));
  return createAuditTrail({ policy, maxBodyBytes: config.audit.maxBodyBytes, failClosed: config.audit.failClosed, output, metrics: o.metrics });
}

/** In the `--workers` primary: open the configured backends and write every worker's records. close() once the workers have exited. */
export async function startPrimaryAudit(config: Readonly<Config>, log: Logger): Promise<{ close(): Promise<void> }> {
  let relay: { healthChanged(): void } | undefined;
  const output = await openAuditOutput(config, backendEvents(log, undefined, () => relay?.healthChanged()), log);
  relay = relayWorkerAudit(output);
  return {
    async close() {
      // A worker's last records may still be in the IPC pipe when it exits: wait for every channel to close.
      await workersDisconnected();
      await output.close();
    },
  };
}
