import type { Logger } from "@natter/config";
import {
  type ChatEvent,
  parseEventPayload,
  parseSessionSignal,
  parseSignal,
  type ReceiptFrame,
  type TypingSignalFrame,
} from "@natter/protocol";
import {
  userContactsSubject,
  userInboxSubject,
  userSessionSubject,
  userSignalSubject,
  userSubjects,
} from "@natter/subjects";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { GatewayMetrics } from "../metrics.ts";
import { SubscriptionHub } from "../subscription-hub.ts";

/** The last token of each subject under `user.<userId>.*` (`userInboxSubject` and the others). */
const INBOX = lastToken(userInboxSubject("u"));
const SIGNAL = lastToken(userSignalSubject("u"));
const SESSION = lastToken(userSessionSubject("u"));
const CONTACTS = lastToken(userContactsSubject("u"));

function lastToken(subject: string): string {
  return subject.slice(subject.lastIndexOf("."));
}

/** One socket's interest in its user's inbox: chat events, and the ephemeral signals beside them. */
export interface InboxListener {
  event(event: ChatEvent): void;
  signal(frame: TypingSignalFrame | ReceiptFrame): void;
  /** These device sessions of the user were revoked (the socket closes if it is one of them). */
  revoked(deviceIds: readonly string[]): void;
  /** Whom the user may see changed (`user.<userId>.contacts`): re-check the socket's presence watches. */
  contactsChanged(): void;
}

/**
 * One core NATS subscription to `user.<userId>.*` per user with at least one socket on
 * this gateway: NATS interest routing then brings that user's events (`.inbox`) and
 * signals (`.signal`: typing and receipts, never stored) here and nowhere else. One
 * subscription rather than one per subject halves the subscriptions a gateway holds and
 * the SUB/UNSUB traffic of every connect and reconnect storm. The first socket of a user
 * subscribes, the last one to leave unsubscribes (`SubscriptionHub`). Each event is parsed
 * once and handed to every socket of the user (its other devices too).
 */
export class InboxHub {
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #hub: SubscriptionHub<InboxListener>;

  constructor(opts: {
    nc: NatsConnection;
    logger: Logger;
    metrics: GatewayMetrics;
    /** Called once per `user.<userId>.contacts` signal, before the user's sockets hear it (forget cached contacts). */
    onContactsChanged?: (userId: string) => void;
  }) {
    const onContacts = opts.onContactsChanged;
    this.#log = opts.logger;
    this.#metrics = opts.metrics;
    this.#hub = new SubscriptionHub<InboxListener>({
      nc: opts.nc,
      logger: opts.logger,
      name: "inbox",
      subject: userSubjects,
      gauge: opts.metrics.inboxSubscriptions,
      // One closure per user and nothing else: the subscription is `user.<userId>.*`, so a
      // message's subject is that user's and only its last token says which kind it is.
      handler: (userId, listeners) => (msg) => {
        const subject = msg.subject;
        if (subject.endsWith(INBOX)) this.#dispatch(userId, listeners, msg);
        else if (subject.endsWith(SIGNAL)) this.#signal(userId, listeners, msg);
        else if (subject.endsWith(SESSION)) this.#session(userId, listeners, msg);
        else if (subject.endsWith(CONTACTS)) {
          onContacts?.(userId);
          for (const listener of [...listeners]) listener.contactsChanged();
        } else this.#invalid(userId, msg, "not an inbox, signal, session or contacts subject");
      },
    });
  }

  /**
   * Adds a listener for the user's inbox. Resolves once the server has the interest (the
   * turn's batched flush, unless the user's subscription was known to it already), so
   * events published after it reach this gateway.
   */
  async add(userId: string, listener: InboxListener): Promise<void> {
    if (this.#hub.add(userId, listener)) await this.#hub.flush();
  }

  /** Removes a listener; the user's subscription ends with their last one. */
  remove(userId: string, listener: InboxListener): void {
    this.#hub.remove(userId, listener);
  }

  /** The user's sockets on this gateway. */
  sockets(userId: string): number {
    return this.#hub.count(userId);
  }

  /** Users with a subscription on this gateway. */
  get size(): number {
    return this.#hub.size;
  }

  /** Drains every subscription (shutdown): messages already received are still handed out. */
  drain(): Promise<void> {
    return this.#hub.drain();
  }

  #dispatch(userId: string, listeners: ReadonlySet<InboxListener>, msg: Msg): void {
    let event: ChatEvent;
    try {
      const data = msg.json<Record<string, unknown>>();
      const seq = data.seq;
      if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) throw new TypeError("event.seq is missing");
      event = parseEventPayload(data, seq);
    } catch (err) {
      this.#invalid(userId, msg, `not a chat event on an inbox: ${String(err)}`);
      return;
    }
    for (const listener of [...listeners]) listener.event(event);
  }

  #session(userId: string, listeners: ReadonlySet<InboxListener>, msg: Msg): void {
    const signal = parsed(msg, parseSessionSignal);
    if (!signal || signal.user !== userId) {
      this.#invalid(userId, msg, "not a session signal of this user");
      return;
    }
    for (const listener of [...listeners]) listener.revoked(signal.deviceIds);
  }

  #signal(userId: string, listeners: ReadonlySet<InboxListener>, msg: Msg): void {
    const frame = parsed(msg, parseSignal);
    if (!frame || frame.type === "presence") {
      this.#invalid(userId, msg, "not a signal on a user signal subject");
      return;
    }
    for (const listener of [...listeners]) listener.signal(frame);
  }

  #invalid(userId: string, msg: Msg, why: string): void {
    this.#metrics.inboxInvalid.inc();
    this.#log.warn({ userId, subject: msg.subject }, `${why}; dropped`);
  }
}

/** The message's JSON through `parse`, or undefined when either throws. */
function parsed<T>(msg: Msg, parse: (data: unknown) => T): T | undefined {
  try {
    return parse(msg.json());
  } catch {
    return undefined;
  }
}
