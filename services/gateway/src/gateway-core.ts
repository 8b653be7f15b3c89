import type { OrchestratorServiceClient } from '@aigc/proto';
import { cancelled, forward, type CallOptionsAsync, type StreamRequestOf, type StreamResponseOf, type UnaryRequestOf, type UnaryResponseOf } from '@aigc/runtime';
import type { Admission, RateState, Ticket } from './admission/admission.js';
import type { Caller } from './authenticator.js';
import type { OrchestratorLink } from './orchestrator-link.js';
import { RequestTiming } from './request-timing.js';
import { TASKS, type StreamTask, type TaskDefaults, type TaskSpec, type UnaryTask } from './tasks.js';

type C = OrchestratorServiceClient;

/** One public call, as both faces know it after authentication. */
export interface CallInfo {
  caller: Caller;
  requestId: string;
  signal?: AbortSignal;
  deadline?: Date;
  /** Where the request's time goes; the faces report it as `Server-Timing`. */
  timing: RequestTiming;
}

/**
 * What the gateway does with every task, whichever face it came in on: fill in defaults,
 * pre-filter and reserve (admission), forward under the reservation with the caller's identity,
 * deadline and signal, then settle with the measured usage or give the hold back.
 */
export class GatewayCore {
  constructor(
    private readonly link: OrchestratorLink,
    private readonly admission: Admission,
    private readonly defaults: TaskDefaults,
  ) {}

  /** Runs a unary task; resolves with the response and the caller's rate-limit state. */
  async unary<K extends UnaryTask>(task: K, request: UnaryRequestOf<C[K]>, call: CallInfo): Promise<{ response: UnaryResponseOf<C[K]>; rate: RateState }> {
    const spec = TASKS[task] as unknown as TaskSpec<UnaryRequestOf<C[K]>, UnaryResponseOf<C[K]>>;
    const prepared = spec.prepare(request, this.defaults);
    const ticket = await this.admit(spec, prepared, call);
    try {
      const response = await call.timing.wait('upstream', this.link.unary(task, prepared, this.downstream(call, ticket)));
      ticket.settle(spec.usage(response, prepared));
      return { response, rate: ticket.rate };
    } catch (err) {
      await ticket.fail(err);
      throw err;
    }
  }

  /**
   * Admits a streaming task and returns its responses; the stream settles when it ends, and a
   * consumer that stops early (a client that left) counts as cancelled.
   */
  async stream<K extends StreamTask>(task: K, request: StreamRequestOf<C[K]>, call: CallInfo): Promise<{ responses: AsyncGenerator<StreamResponseOf<C[K]>>; rate: RateState }> {
    const spec = TASKS[task] as unknown as TaskSpec<StreamRequestOf<C[K]>, StreamResponseOf<C[K]>>;
    const prepared = spec.prepare(request, this.defaults);
    const ticket = await this.admit(spec, prepared, call);
    const upstream = this.link.stream(task, prepared, this.downstream(call, ticket));
    async function* run(): AsyncGenerator<StreamResponseOf<C[K]>> {
      let usage;
      let finished = false;
      try {
        for (;;) {
          const next = await call.timing.wait('upstream', upstream.next());
          if (next.done) break;
          usage = spec.usage(next.value, prepared) ?? usage;
          yield next.value;
        }
        finished = true;
        ticket.settle(usage);
      } catch (err) {
        finished = true;
        await ticket.fail(err);
        throw err;
      } finally {
        if (!finished) {
          // Closing the upstream generator cancels the orchestrator call, and the work below it.
          await upstream.return(undefined);
          await ticket.fail(cancelled('the client stopped reading'));
        }
      }
    }
    return { responses: run(), rate: ticket.rate };
  }

  private admit<Req>(spec: TaskSpec<Req, never>, request: Req, call: CallInfo): Promise<Ticket> {
    return call.timing.wait('admission', this.admission.admit({
      caller: call.caller,
      requestId: call.requestId,
      model: spec.model(request),
      modality: spec.modality,
      estimate: spec.estimate(request, this.defaults),
      screen: spec.screen(request),
      signal: call.signal,
      deadline: call.deadline,
    }));
  }

  private downstream(call: CallInfo, ticket: Ticket): CallOptionsAsync {
    return forward({
      requestId: call.requestId,
      tenantId: call.caller.tenantId,
      apiKeyId: call.caller.apiKeyId,
      reservationId: ticket.reservationId,
      signal: call.signal,
      deadline: call.deadline,
    });
  }
}
