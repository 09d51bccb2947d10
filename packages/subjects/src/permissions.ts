/**
 * Who may do what on NATS: one identity per kind of process, each allowed only the
 * subjects and JetStream API calls its code uses. This is the single source: the
 * nats-server authorization of every deployment (the dev node, the test servers, the
 * cluster, compose) is rendered from it by `natsAccountsConfig`, and `subjects.md` lists
 * it for people. A new subject or API call in a service means a new line here, or the
 * server refuses it (the permission matrix test, `tests/src/nats-permissions.test.ts`,
 * pins what each identity may and may not do).
 */

import { HUB_SITE } from "@natter/protocol";
import {
  ATTACHMENT_BUCKET,
  ATTACHMENT_STREAM,
  CHAT_STREAM,
  CONSUMERS,
  HUB_COPY_STREAM,
  jsApiPrefix,
  PRESENCE_BUCKET,
  PUSH_BUCKET,
  SITES_COPY_STREAM,
} from "./index.ts";

/** The account every Natter identity lives in (JetStream enabled). */
export const NATS_ACCOUNT = "NATTER";
/** The system account: server-level requests (`nats server list`), operators only. */
export const NATS_SYSTEM_ACCOUNT = "SYS";

export interface SubjectRules {
  allow: readonly string[];
  /** Carved out of `allow` (the server checks deny after allow). */
  deny?: readonly string[];
}

export interface Permissions {
  publish: SubjectRules;
  subscribe: SubjectRules;
  /**
   * May answer the requests it receives (nats-server `allow_responses`: one reply to the
   * reply subject of each message delivered to it), without a publish right on `_INBOX.>`.
   */
  allowResponses?: boolean;
}

export interface IdentitySpec {
  account: typeof NATS_ACCOUNT | typeof NATS_SYSTEM_ACCOUNT;
  /** What it is for; shown in subjects.md and SECURITY.md. */
  doc: string;
  /** Undefined: everything in its account (operators only). */
  permissions?: Permissions;
}

const KV_STREAM = `KV_${PRESENCE_BUCKET}`;
const PUSH_KV_STREAM = `KV_${PUSH_BUCKET}`;
const DURABLES = Object.values(CONSUMERS);

/** JetStream API subjects, named for what they do (nats-server's `$JS.API` layout). */
const api = {
  info: "$JS.API.INFO",
  streamInfo: (s: string) => `$JS.API.STREAM.INFO.${s}`,
  streamCreate: (s: string) => `$JS.API.STREAM.CREATE.${s}`,
  streamUpdate: (s: string) => `$JS.API.STREAM.UPDATE.${s}`,
  /** Delete one message by sequence (`jsm.streams.deleteMessage`; erased by default). */
  streamMsgDelete: (s: string) => `$JS.API.STREAM.MSG.DELETE.${s}`,
  /** Direct get: `{seq}` / batch / `multi_last` on the bare subject, `last_by_subj` with the subject appended. */
  directGet: (s: string) => [`$JS.API.DIRECT.GET.${s}`, `$JS.API.DIRECT.GET.${s}.>`],
  consumerInfo: (s: string, c: string) => `$JS.API.CONSUMER.INFO.${s}.${c}`,
  /** Create or update a named consumer, with or without its filter subject in the request subject. */
  consumerCreate: (s: string, c: string) => [
    `$JS.API.CONSUMER.CREATE.${s}.${c}`,
    `$JS.API.CONSUMER.CREATE.${s}.${c}.>`,
  ],
  consumerDelete: (s: string, c: string) => `$JS.API.CONSUMER.DELETE.${s}.${c}`,
  /** A pull request for the next batch. */
  consumerNext: (s: string, c: string) => `$JS.API.CONSUMER.MSG.NEXT.${s}.${c}`,
  /** Acks go to the delivered message's reply subject. */
  ack: (s: string, c: string) => `$JS.ACK.${s}.${c}.>`,
  /** Flow-control replies of a push consumer (the KV watch's ordered consumer). */
  flowControl: (s: string) => `$JS.FC.${s}.>`,
  /** Purge a stream, or the messages of one subject of it (`jsm.streams.purge` with a filter). */
  streamPurge: (s: string) => `$JS.API.STREAM.PURGE.${s}`,
  /** Get one message by the stream API (`jsm.streams.getMessage`: `@nats-io/obj`'s object info). */
  streamMsgGet: (s: string) => `$JS.API.STREAM.MSG.GET.${s}`,
} as const;

/** The attachments bucket's chunks and descriptions (object store subjects). */
const OBJECTS = `$O.${ATTACHMENT_BUCKET}.>`;

/** Replies to a connection's own requests (JetStream API answers, PubAcks, KV watch deliveries). */
const INBOX = "_INBOX.>";

/** The streams an edge domain copies other domains' chats into (the hub's or the sites'). */
const COPY_STREAMS = [HUB_COPY_STREAM, SITES_COPY_STREAM];

/** What a process running one durable consumer of the chat stream (or a copy stream) needs. */
function durableConsumer(durable: string, stream: string = CHAT_STREAM): string[] {
  return [
    api.streamInfo(stream),
    api.consumerInfo(stream, durable),
    ...api.consumerCreate(stream, durable),
    api.consumerNext(stream, durable),
    api.ack(stream, durable),
  ];
}

function union(...specs: Permissions[]): Permissions {
  const merge = (pick: (p: Permissions) => SubjectRules): SubjectRules => ({
    allow: [...new Set(specs.flatMap((p) => pick(p).allow))],
  });
  const allowResponses = specs.some((p) => p.allowResponses);
  return {
    publish: merge((p) => p.publish),
    subscribe: merge((p) => p.subscribe),
    ...(allowResponses ? { allowResponses } : {}),
  };
}

const gateway: Permissions = {
  publish: {
    allow: [
      api.info,
      // The sequencer: chat events, and the chat stream it creates at start-up and keeps
      // configured (max age, dedup window, replicas). Never delete or purge.
      "chat.*.msg",
      api.streamInfo(CHAT_STREAM),
      api.streamCreate(CHAT_STREAM),
      api.streamUpdate(CHAT_STREAM),
      // Chat heads, ranges and events by seq (ChatLog).
      ...api.directGet(CHAT_STREAM),
      // How far the history consumer is behind (back-pressure on sends), and every durable's
      // state for the operators' API (GET /v1/admin/streams): INFO only, never a change.
      ...DURABLES.map((d) => api.consumerInfo(CHAT_STREAM, d)),
      // Typing and receipts to members; revoked sessions and changed contacts (blocks,
      // requests) to every gateway holding the user; presence changes to watchers.
      "user.*.signal",
      "user.*.session",
      "user.*.contacts",
      "presence.*",
      // The presence bucket: created by the first gateway; leases, conn and seen keys;
      // batch reads; the lease watch and key listings (ordered consumers, which check
      // their consumer's info and are deleted when done).
      `$KV.${PRESENCE_BUCKET}.>`,
      api.streamInfo(KV_STREAM),
      api.streamCreate(KV_STREAM),
      ...api.directGet(KV_STREAM),
      `$JS.API.CONSUMER.CREATE.${KV_STREAM}.>`,
      `$JS.API.CONSUMER.INFO.${KV_STREAM}.*`,
      `$JS.API.CONSUMER.DELETE.${KV_STREAM}.*`,
      api.flowControl(KV_STREAM),
      // Edge sites: the copy of other domains' chats it creates at start-up (a mirror of the
      // hub's chats at a site, the sites' chats sourced at the hub) and reads like CHATS;
      // chat operations forwarded to a gateway of the chat's home domain.
      ...COPY_STREAMS.flatMap((s) => [
        api.streamInfo(s),
        api.streamCreate(s),
        api.streamUpdate(s),
        ...api.directGet(s),
      ]),
      // Whether the other domain's CHATS answers yet (the copy is set up only then).
      `$JS.*.API.STREAM.INFO.${CHAT_STREAM}`,
      "edge.*.call",
      // Attachments (the object store bucket): created at start-up like the streams above;
      // an upload's chunks and description, the claim a send puts on it (a description
      // written with an expected last sequence), reads by direct get. The purge is the
      // object store's clean-up of a failed upload's chunks (an upload over the limit, a
      // body cut short): on this bucket only, never the chat stream.
      OBJECTS,
      api.streamInfo(ATTACHMENT_STREAM),
      api.streamCreate(ATTACHMENT_STREAM),
      api.streamMsgGet(ATTACHMENT_STREAM),
      ...api.directGet(ATTACHMENT_STREAM),
      api.streamPurge(ATTACHMENT_STREAM),
    ],
  },
  // The users it holds (inbox and signals in one subscription) and the users its sockets
  // watch; at an edge site, the operations other domains forward to its home chats.
  subscribe: { allow: ["user.*.*", "presence.*", "edge.*.call", INBOX] },
  // The answers to those forwarded operations.
  allowResponses: true,
};

const history: Permissions = {
  // At an edge site, history also writes the chats copied from other domains.
  publish: {
    allow: [
      api.info,
      ...durableConsumer(CONSUMERS.history),
      ...COPY_STREAMS.flatMap((s) => durableConsumer(CONSUMERS.history, s)),
      // Deletes that erase: once a `message.deleted` is in the store, the original
      // `message.created` is erased from the stream by its seq (the one destructive call a
      // service makes, and only history: gateways never erase the log). Its target is read
      // through ChatLog (store first, the stream when history lags behind a hole).
      api.streamMsgDelete(CHAT_STREAM),
      ...api.directGet(CHAT_STREAM),
      // Attachments of deleted messages, and uploads no message took (the sweeper): the
      // description rewritten as deleted (with an expected last sequence, so a send's claim
      // and a sweep never both win), then the object's chunks and description purged.
      OBJECTS,
      api.streamInfo(ATTACHMENT_STREAM),
      ...api.directGet(ATTACHMENT_STREAM),
      api.streamPurge(ATTACHMENT_STREAM),
    ],
  },
  subscribe: { allow: [INBOX] },
};

const fanout: Permissions = {
  publish: {
    allow: [
      api.info,
      ...durableConsumer(CONSUMERS.fanout),
      // Membership as of an event, read from the stream (ChatLog).
      ...api.directGet(CHAT_STREAM),
      // Live delivery to every member's inbox.
      "user.*.inbox",
    ],
  },
  subscribe: { allow: [INBOX] },
};

const push: Permissions = {
  publish: {
    allow: [
      api.info,
      ...durableConsumer(CONSUMERS.push),
      // Membership as of an event, and the chat's messages after a grace (deleted ones are
      // not pushed), read through ChatLog (store first, then the stream).
      ...api.directGet(CHAT_STREAM),
      // Its cursors (the PUSH bucket): created at start-up, read by direct get, written
      // after each window's notifications. Nothing else is published: pushes go over HTTPS
      // to push services and the operator's webhook.
      `$KV.${PUSH_BUCKET}.>`,
      api.streamInfo(PUSH_KV_STREAM),
      api.streamCreate(PUSH_KV_STREAM),
      ...api.directGet(PUSH_KV_STREAM),
    ],
  },
  subscribe: { allow: [INBOX] },
};

/**
 * Read-only, for developers with the `nats` CLI: core subscriptions to chat, user and
 * presence subjects, and the JetStream calls `nats stream ls|info|subjects|view|get`,
 * `nats sub --stream`, `nats consumer ls|info` and `nats kv ls|get|watch|history` make
 * (found by tracing natscli 0.5.1). Publishing is refused everywhere: the only requests
 * are read-only API calls, and the ordered consumers they create are ephemeral. It may
 * not create, pull from or change the services' durables, which would take their messages.
 */
const tail: Permissions = {
  publish: {
    allow: [
      api.info,
      "$JS.API.STREAM.LIST",
      "$JS.API.STREAM.NAMES",
      "$JS.API.STREAM.INFO.*",
      "$JS.API.STREAM.MSG.GET.*",
      "$JS.API.DIRECT.GET.>",
      "$JS.API.CONSUMER.LIST.*",
      "$JS.API.CONSUMER.NAMES.*",
      "$JS.API.CONSUMER.INFO.*.*",
      "$JS.API.CONSUMER.CREATE.>",
      "$JS.API.CONSUMER.MSG.NEXT.*.*",
      "$JS.FC.>",
    ],
    deny: DURABLES.flatMap((d) => [
      `$JS.API.CONSUMER.CREATE.*.${d}`,
      `$JS.API.CONSUMER.CREATE.*.${d}.>`,
      `$JS.API.CONSUMER.MSG.NEXT.*.${d}`,
    ]),
  },
  subscribe: { allow: ["chat.*.msg", "user.*.*", "presence.*", INBOX] },
};

/**
 * The leaf link of an edge site, as the hub sees it (the site's nats-server authenticates
 * with this identity's seed, `nats/leaf.conf`). On a leaf connection `publish` is what the
 * site may send into the hub and `subscribe` what the hub sends to the site. Found by
 * tracing nats-server 2.15.2: a mirror or source creates its consumer through the other
 * domain's API (replies on `$JSC.R.>`), and the messages, heartbeats and flow control come
 * back on `$JS.M.>` (mirror), `$JS.S.>` (source) and `$JS.FC.>`. Chat subjects never cross:
 * each side stores only its own (`chat.>` is absent here and denied in `leaf.conf`).
 */
const leaf: Permissions = {
  publish: {
    allow: [
      // The site's mirror of the hub's chats: its consumer on the hub's CHATS.
      `${jsApiPrefix(HUB_SITE)}.CONSUMER.CREATE.${CHAT_STREAM}`,
      `${jsApiPrefix(HUB_SITE)}.CONSUMER.CREATE.${CHAT_STREAM}.>`,
      `${jsApiPrefix(HUB_SITE)}.CONSUMER.DELETE.${CHAT_STREAM}.>`,
      // The site's gateway asking whether the hub's CHATS answers (before mirroring it).
      `${jsApiPrefix(HUB_SITE)}.STREAM.INFO.${CHAT_STREAM}`,
      // The hub's source of the site's chats: the messages it delivers.
      "$JS.S.>",
      "$JS.FC.>",
      "$JSC.R.>",
      INBOX,
      // Typing and receipts to hub users; operations forwarded to the hub's gateways.
      "user.*.*",
      `edge.${HUB_SITE}.call`,
    ],
  },
  subscribe: {
    allow: [
      // The hub's source of the site's chats: its consumer on the site's CHATS.
      `$JS.*.API.CONSUMER.CREATE.${CHAT_STREAM}.>`,
      `$JS.*.API.CONSUMER.CREATE.${CHAT_STREAM}`,
      `$JS.*.API.CONSUMER.DELETE.${CHAT_STREAM}.>`,
      `$JS.*.API.STREAM.INFO.${CHAT_STREAM}`,
      // The site's mirror: the messages the hub delivers.
      "$JS.M.>",
      "$JS.FC.>",
      "$JSC.R.>",
      INBOX,
      // Live delivery (the hub's fanout to the site's users), typing and receipts;
      // operations the hub forwards to the chats homed at the site.
      "user.*.*",
      "edge.*.call",
    ],
  },
};

/** Every identity, by the name its user and credential files carry. */
export const NATS_IDENTITIES = {
  gateway: { account: NATS_ACCOUNT, doc: "a gateway process (`gateway/src/main.ts`)", permissions: gateway },
  history: {
    account: NATS_ACCOUNT,
    doc: "a consumers process running `history` only (`NATTER_CONSUMERS=history`)",
    permissions: history,
  },
  fanout: {
    account: NATS_ACCOUNT,
    doc: "a consumers process running `fanout` only (`NATTER_CONSUMERS=fanout`)",
    permissions: fanout,
  },
  push: {
    account: NATS_ACCOUNT,
    doc: "a consumers process running `push` only (`NATTER_CONSUMERS=push`)",
    permissions: push,
  },
  consumers: {
    account: NATS_ACCOUNT,
    doc: "a consumers process running several (`history` ∪ `fanout` ∪ `push`)",
    permissions: union(history, fanout, push),
  },
  natter: {
    account: NATS_ACCOUNT,
    doc: "`npm start`: the gateway and the consumers in one process over one connection (`gateway` ∪ `history` ∪ `fanout` ∪ `push`)",
    permissions: union(gateway, history, fanout, push),
  },
  tail: {
    account: NATS_ACCOUNT,
    doc: "developers' read-only `nats` CLI (context `natter-tail`)",
    permissions: tail,
  },
  leaf: {
    account: NATS_ACCOUNT,
    doc: "an edge site's leaf link into the hub (`nats/leaf.conf`): its mirror of the hub's chats, the hub's source of its chats, live delivery and forwarded operations; no chat subject",
    permissions: leaf,
  },
  admin: {
    account: NATS_ACCOUNT,
    doc: "operators: everything in the Natter account (streams, consumers, buckets), context `natter-admin`",
  },
  sys: {
    account: NATS_SYSTEM_ACCOUNT,
    doc: "operators: the system account (`nats server list`, `nats server report`), context `natter-sys`",
  },
} as const satisfies Record<string, IdentitySpec>;

export type NatsIdentity = keyof typeof NATS_IDENTITIES;
export const NATS_IDENTITY_NAMES = Object.keys(NATS_IDENTITIES) as NatsIdentity[];

/** The identity of a consumers process running `consumers` (NATTER_CONSUMERS). */
export function consumersIdentity(consumers: readonly string[]): NatsIdentity {
  const set = new Set(consumers);
  if (set.size === 1 && set.has(CONSUMERS.history)) return "history";
  if (set.size === 1 && set.has(CONSUMERS.fanout)) return "fanout";
  if (set.size === 1 && set.has(CONSUMERS.push)) return "push";
  return "consumers";
}

/** How an identity proves itself to nats-server: an nkey (public key) or a user and password. */
export type NatsCredential = { nkey: string } | { user: string; password: string };

function rules(r: SubjectRules): Record<string, readonly string[]> {
  return r.deny?.length ? { allow: r.allow, deny: r.deny } : { allow: r.allow };
}

/**
 * The `accounts` and `system_account` blocks of a nats-server config for the given
 * credentials (identities left out get no user). Values are quoted JSON, which nats-server's
 * config format reads as literals, so `$JS…` subjects are never taken for variables.
 * `noAuthUser` (test servers only) maps a client without credentials to that user/password
 * identity; without it such a client is refused.
 */
export function natsAccountsConfig(
  creds: Partial<Record<NatsIdentity, NatsCredential>>,
  opts: { noAuthUser?: NatsIdentity } = {},
): string {
  // Each user is preceded by a comment naming its identity: nkeys carry no name.
  const users: Record<string, string[]> = { [NATS_ACCOUNT]: [], [NATS_SYSTEM_ACCOUNT]: [] };
  for (const name of NATS_IDENTITY_NAMES) {
    const cred = creds[name];
    if (!cred) continue;
    const spec: IdentitySpec = NATS_IDENTITIES[name];
    const p = spec.permissions;
    const user = {
      ...cred,
      ...(p
        ? {
            permissions: {
              publish: rules(p.publish),
              subscribe: rules(p.subscribe),
              ...(p.allowResponses ? { allow_responses: true } : {}),
            },
          }
        : {}),
    };
    users[spec.account]!.push(`      # ${name}: ${spec.doc.replace(/\n/g, " ")}\n      ${JSON.stringify(user)}`);
  }
  const block = (account: string, extra: string) =>
    `  ${account}: {\n${extra}    users: [\n${users[account]!.join(",\n")}\n    ]\n  }`;
  const accounts = [block(NATS_ACCOUNT, "    jetstream: enabled\n"), block(NATS_SYSTEM_ACCOUNT, "")].join("\n");
  let noAuth = "";
  if (opts.noAuthUser) {
    const c = creds[opts.noAuthUser];
    if (!c || !("user" in c)) throw new Error(`noAuthUser ${opts.noAuthUser} needs a user/password credential`);
    noAuth = `no_auth_user: ${JSON.stringify(c.user)}\n`;
  }
  return [
    `# Generated from packages/subjects/src/permissions.ts: do not edit.`,
    `accounts: {\n${accounts}\n}`,
    `system_account: ${NATS_SYSTEM_ACCOUNT}`,
    noAuth,
  ].join("\n");
}

/** One identity's permissions as Markdown table rows (subjects.md carries them, a test compares). */
export function permissionsMarkdown(): string {
  const code = (xs: readonly string[] | undefined) => (xs?.length ? xs.map((x) => `\`${x}\``).join(", ") : "—");
  const rows = NATS_IDENTITY_NAMES.map((name) => {
    const spec: IdentitySpec = NATS_IDENTITIES[name];
    const p = spec.permissions;
    if (!p) return `| \`${name}\` | ${spec.account} | ${spec.doc} | everything | everything |`;
    const pub =
      code(p.publish.allow) +
      (p.publish.deny?.length ? `; **not** ${code(p.publish.deny)}` : "") +
      (p.allowResponses ? "; replies to the requests it receives (`allow_responses`)" : "");
    const sub = code(p.subscribe.allow) + (p.subscribe.deny?.length ? `; **not** ${code(p.subscribe.deny)}` : "");
    return `| \`${name}\` | ${spec.account} | ${spec.doc} | ${pub} | ${sub} |`;
  });
  return ["| identity | account | for | may publish | may subscribe |", "|---|---|---|---|---|", ...rows].join("\n");
}
