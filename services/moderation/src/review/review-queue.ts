/**
 * The human review queue on JetStream: items are published to `aigc.review.<category>` in the
 * work-queue stream AIGC_REVIEW and handed out by the durable `review-queue` consumer. A claim is
 * a delivery left unacknowledged: its token is the delivery's ack subject, so any replica can
 * record the decision, and an item not decided within the consumer's ack wait is delivered to the
 * next reviewer who claims. Deciding acknowledges the delivery, which removes the item.
 */
import { randomUUID } from 'node:crypto';
import { CONSUMERS, publishEvent, STREAMS, type Bus } from '@aigc/bus';
import { CheckStage, ReviewItem, type CategoryScore, type Finding } from '@aigc/proto';
import { failedPrecondition, invalidArgument, notFound } from '@aigc/runtime';

/** What the moderator submits for review. */
export interface ReviewSubmission {
  text: string;
  stage: CheckStage;
  findings: Finding[];
  scores: CategoryScore[];
  scorerScores: CategoryScore[];
  category: string;
}

/** An item handed to one reviewer. */
export interface Claim {
  item: ReviewItem;
  token: string;
  expiresAtMs: number;
}

const SUBJECT_TOKEN = /[^A-Za-z0-9_-]/g;

/** See the module comment. */
export class ReviewQueue {
  constructor(private readonly bus: Bus) {}

  /** Queues one item; resolves with its id once the stream has stored it. */
  async submit(submission: ReviewSubmission, signal?: AbortSignal): Promise<string> {
    const id = `rev_${randomUUID()}`;
    const item = ReviewItem.fromPartial({ ...submission, id, createdAtMs: Date.now() });
    const subject = `aigc.review.${submission.category.replace(SUBJECT_TOKEN, '_') || 'general'}`;
    await publishEvent(this.bus, subject, ReviewItem.encode(item).finish(), { msgId: id, signal });
    return id;
  }

  /** Up to `limit` items waiting for a decision (claimed or not), oldest first. */
  async list(limit: number): Promise<ReviewItem[]> {
    const jsm = await this.bus.jsm();
    const info = await jsm.streams.info(STREAMS.review.name);
    const items: ReviewItem[] = [];
    const { first_seq: first, last_seq: last } = info.state;
    for (let seq = first; seq <= last && items.length < limit && seq < first + limit * 50; seq++) {
      const stored = await jsm.streams.getMessage(STREAMS.review.name, { seq }).catch(() => null);
      if (stored) items.push(ReviewItem.decode(stored.data));
    }
    return items;
  }

  /** Hands the oldest unclaimed item to a reviewer, or null when none arrives within `waitMs`. */
  async claim(waitMs: number): Promise<Claim | null> {
    const consumer = await this.bus.js.consumers.get(STREAMS.review.name, CONSUMERS.reviewQueue.name);
    const msg = await consumer.next({ expires: Math.max(1000, waitMs) });
    // The ack subject of the delivery: the JsMsg implementation exposes it, the interface does not.
    const reply = msg ? (msg as unknown as { reply?: string }).reply : undefined;
    if (!msg || !reply) return null;
    return { item: ReviewItem.decode(msg.data), token: reply, expiresAtMs: Date.now() + CONSUMERS.reviewQueue.ackWaitMs };
  }

  /**
   * Checks a claim token and returns the item it holds; NOT_FOUND when the item was already
   * decided, INVALID_ARGUMENT when the token is not one of this queue's.
   */
  async claimed(id: string, token: string): Promise<ReviewItem> {
    const seq = streamSequence(token);
    const jsm = await this.bus.jsm();
    const stored = await jsm.streams.getMessage(STREAMS.review.name, { seq }).catch(() => null);
    if (!stored) throw notFound(`review item ${id} was already decided`);
    const item = ReviewItem.decode(stored.data);
    if (item.id !== id) throw invalidArgument(`claim_token does not belong to review item ${id}`);
    return item;
  }

  /** Acknowledges the claimed delivery: the item leaves the queue. */
  async complete(token: string): Promise<void> {
    streamSequence(token);
    try {
      await this.bus.nc.request(token, new TextEncoder().encode('+ACK'), { timeout: 5000 });
    } catch (err) {
      throw failedPrecondition(`the claim could not be completed (it may have lapsed): ${(err as Error).message}`);
    }
  }
}

/**
 * The stream sequence in an ack subject (`$JS.ACK[.<domain>.<hash>].AIGC_REVIEW.review-queue.
 * <delivered>.<stream seq>.<consumer seq>.<time>.<pending>[.<token>]`).
 */
function streamSequence(token: string): number {
  const parts = token.split('.');
  const at = parts.indexOf(STREAMS.review.name);
  const ok = parts[0] === '$JS' && parts[1] === 'ACK' && at >= 2 && parts[at + 1] === CONSUMERS.reviewQueue.name && parts.length >= at + 7;
  const seq = ok ? Number(parts[at + 3]) : NaN;
  if (!Number.isSafeInteger(seq) || seq < 1) throw invalidArgument('claim_token is not a claim of the review queue');
  return seq;
}
