import { createHash } from "node:crypto";
import type { Logger } from "@natter/config";
import type { Attachment } from "@natter/protocol";
import {
  ATTACHMENT_BUCKET,
  ATTACHMENT_CHUNK_BYTES,
  ATTACHMENT_META_SUBJECTS,
  ATTACHMENT_STREAM,
  attachmentChunkSubject,
  attachmentMetaSubject,
  attachmentStreamConfig,
} from "@natter/subjects";
import {
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  JsHeaders,
  type StreamConfig,
} from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { isNoResults } from "./chat-stream.ts";

/** JetStream's "wrong last sequence" (an expected last subject sequence that no longer holds). */
const WRONG_LAST_SEQUENCE = 10071;
/** Chunks per batch direct get: 8 × 128 KiB, so one request stays about 1 MiB. */
const CHUNKS_PER_READ = 8;

/**
 * One attachment as the bucket holds it: the descriptor messages carry, who may read it
 * (its chat), who uploaded it, and its claim. Kept in the object's description (the object
 * info's `metadata`), so a gateway checks access with the one direct get that also finds
 * the chunks, and the `nats object` CLI shows it.
 */
export interface StoredAttachment extends Attachment {
  /** The chat it was uploaded into: only that chat's members read it, only its messages use it. */
  chat: string;
  /** The uploader: only they may send it. */
  uploader: string;
  /** Upload time, ms since the epoch. */
  createdAt: number;
  /**
   * The message that took it (its JetStream dedup id `<chat>:<user>:<clientMsgId>`), set
   * by the send before it publishes; absent while unreferenced (the sweeper's to purge).
   */
  referencedBy?: string;
  /** Object store bookkeeping: the chunks' subject token and count, and the description's stream seq. */
  nuid: string;
  chunks: number;
  chunkBytes: number;
  revision: number;
  /** A description marked deleted: its purge began (the object answers as gone). */
  deleted: boolean;
}

/** What an upload knows before its bytes are stored. */
export interface NewAttachment {
  attachmentId: string;
  chat: string;
  uploader: string;
  name: string;
  contentType: string;
  width?: number;
  height?: number;
}

/** A claim lost: the attachment changed since it was read (claimed by another send, or purged). */
export class AttachmentClaimConflict extends Error {
  override name = "AttachmentClaimConflict";
}

/** The object store's description of an object (`ServerObjectInfo` of `@nats-io/obj`). */
interface ObjectDescription {
  name: string;
  bucket: string;
  nuid: string;
  size: number;
  chunks: number;
  mtime: string;
  digest: string;
  deleted?: boolean;
  options?: { max_chunk_size?: number };
  metadata?: Record<string, string>;
  headers?: Record<string, string[]>;
  description?: string;
}

/**
 * The attachments bucket (`ATTACHMENTS`, `@natter/subjects`): a NATS Object Store whose
 * layout `@nats-io/obj` and `nats object` read, with what Natter needs beside it.
 *
 * - **Upload** through `@nats-io/obj`'s `put` (streamed: chunk by chunk as the request
 *   arrives, one PubAck each; a failed put purges the chunks it stored, so nothing is kept).
 * - **Read** with batch direct gets of the object's chunk subject, not the library's `get`:
 *   its ordered push consumer stalls after 16 chunks when the flow-control reply is lost
 *   (nats.js #430), and direct gets also serve ranges and need no consumer permissions.
 * - **Claims** and **sweeps** rewrite the description with an expected last subject
 *   sequence, so of a send taking an upload and a sweeper purging it exactly one wins,
 *   with no lock, however many gateways and sweepers run.
 * - **Purge**: the description marked deleted, then the chunks and the description purged;
 *   an interrupted purge leaves a deleted description, which the sweeper finishes.
 */
export class AttachmentBucket {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #timeoutMs: number;

  constructor(js: JetStreamClient, jsm: JetStreamManager, opts: { timeoutMs?: number } = {}) {
    this.#js = js;
    this.#jsm = jsm;
    // Per chunk publish and per read request, not per object (a whole upload may take long).
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Creates the bucket's stream, or brings its replicas in line; safe from every process at start-up. */
  static async ensure(jsm: JetStreamManager, opts: { replicas: number }, logger: Logger): Promise<void> {
    const want = attachmentStreamConfig(opts) as unknown as StreamConfig;
    try {
      const info = await jsm.streams.info(ATTACHMENT_STREAM);
      if (info.config.num_replicas !== want.num_replicas || info.config.allow_direct !== true) {
        await jsm.streams.update(ATTACHMENT_STREAM, { ...info.config, ...want });
        logger.info({ stream: ATTACHMENT_STREAM }, "attachments bucket updated");
      }
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      await jsm.streams.add(want);
      logger.info({ stream: ATTACHMENT_STREAM }, "attachments bucket created");
    }
  }

  /**
   * Stores `body` as a new object named `a.attachmentId`. The returned descriptor has the
   * size and SHA-256 of what was stored. If `body` errors (over the limit, cut short), the
   * chunks stored so far are purged and the error is thrown: nothing is kept.
   */
  async put(a: NewAttachment, body: ReadableStream<Uint8Array>): Promise<StoredAttachment> {
    const os = await new Objm(this.#js).open(ATTACHMENT_BUCKET, false);
    const createdAt = Date.now();
    const metadata: Record<string, string> = {
      chat: a.chat,
      uploader: a.uploader,
      fileName: a.name,
      contentType: a.contentType,
      createdAt: String(createdAt),
      ...(a.width !== undefined && a.height !== undefined ? { width: String(a.width), height: String(a.height) } : {}),
    };
    const info = await os.put(
      { name: a.attachmentId, metadata, options: { max_chunk_size: ATTACHMENT_CHUNK_BYTES } },
      body,
      { timeout: this.#timeoutMs },
    );
    const stored = fromDescription(
      {
        name: info.name,
        bucket: info.bucket,
        nuid: info.nuid,
        size: info.size,
        chunks: info.chunks,
        mtime: info.mtime,
        digest: info.digest,
        deleted: false,
        options: { max_chunk_size: ATTACHMENT_CHUNK_BYTES },
        metadata,
      },
      info.revision,
    );
    if (!stored) throw new Error("the stored attachment's description is incomplete");
    return stored;
  }

  /** The attachment as stored now; undefined when there is none (never uploaded, or purged). */
  async get(attachmentId: string): Promise<StoredAttachment | undefined> {
    let m;
    try {
      m = await this.#jsm.direct.getMessage(ATTACHMENT_STREAM, { last_by_subj: attachmentMetaSubject(attachmentId) });
    } catch (err) {
      if (isNoResults(err) || isStreamNotFound(err)) return undefined;
      throw err;
    }
    if (!m) return undefined;
    const a = fromDescription(m.json<ObjectDescription>(), m.seq);
    return a && !a.deleted ? a : undefined;
  }

  /**
   * The bytes `start` … `end` (inclusive) of the attachment, in order, read chunk by chunk
   * (batch direct gets of its chunk subject, about 1 MiB per request). A read of the whole
   * object checks its SHA-256 at the end and throws if it differs (the caller then aborts
   * its response: the client sees a broken transfer, never wrong bytes as complete).
   * A range skips the chunks before it (they are still read from the server: a range costs
   * at most the object's size).
   */
  async *read(a: StoredAttachment, range?: { start: number; end: number }): AsyncGenerator<Uint8Array> {
    const start = range?.start ?? 0;
    const end = range?.end ?? a.size - 1;
    const subject = attachmentChunkSubject(a.nuid);
    const hash = range ? undefined : new Hasher();
    let offset = 0;
    let seq = 1;
    let seen = 0;
    while (seen < a.chunks && offset <= end) {
      let got = 0;
      try {
        const iter = await this.#jsm.direct.getBatch(ATTACHMENT_STREAM, {
          seq,
          next_by_subj: subject,
          batch: CHUNKS_PER_READ,
        });
        for await (const m of iter) {
          got++;
          seen++;
          seq = m.seq + 1;
          const data = m.data;
          const from = offset;
          offset += data.length;
          hash?.update(data);
          if (offset <= start || from > end) continue;
          yield data.subarray(Math.max(0, start - from), Math.min(data.length, end - from + 1));
        }
      } catch (err) {
        if (!isNoResults(err)) throw err;
      }
      if (got === 0) throw new Error(`attachment ${a.attachmentId}: chunks missing (${seen} of ${a.chunks})`);
    }
    if (hash && hash.hex() !== a.sha256) throw new Error(`attachment ${a.attachmentId}: digest mismatch`);
  }

  /**
   * Marks the attachment taken by message `by` (its dedup id), if it still is what `a`
   * says (the description's revision). Throws `AttachmentClaimConflict` when it changed
   * meanwhile (another send claimed it, or the sweeper or a delete purged it).
   */
  async claim(a: StoredAttachment, by: string): Promise<StoredAttachment> {
    return this.#rewrite(a, { ...a, referencedBy: by });
  }

  /** Gives a claim back (the send it was for was refused), if nothing changed since. */
  async release(a: StoredAttachment): Promise<void> {
    const { referencedBy: _, ...rest } = a;
    await this.#rewrite(a, rest);
  }

  /**
   * Purges the attachment (a deleted message's): its description marked deleted, then its
   * chunks and description purged. Idempotent; false when there was nothing to purge.
   */
  async purge(attachmentId: string): Promise<boolean> {
    const a = await this.#description(attachmentId);
    if (!a) return false;
    if (!a.deleted) await this.#publish(attachmentId, { ...a, deleted: true });
    await this.#finishPurge(attachmentId, a.nuid);
    return true;
  }

  /**
   * Purges the attachment only if it is still unreferenced and unchanged since `a` was read
   * (the sweeper): false when a send claimed it meanwhile, or another sweeper got there first.
   */
  async purgeIfUnchanged(a: StoredAttachment): Promise<boolean> {
    try {
      await this.#rewrite(a, { ...a, deleted: true });
    } catch (err) {
      if (err instanceof AttachmentClaimConflict) return false;
      throw err;
    }
    await this.#finishPurge(a.attachmentId, a.nuid);
    return true;
  }

  /** Finishes a purge an earlier process began (a description left marked deleted). */
  async finishPurge(a: StoredAttachment): Promise<void> {
    await this.#finishPurge(a.attachmentId, a.nuid);
  }

  /**
   * Every object's description, deleted ones too (batch direct get of the last message of
   * each description subject, in pages): the sweeper's scan.
   */
  async *list(): AsyncGenerator<StoredAttachment> {
    let upTo: number;
    try {
      upTo = (await this.#jsm.streams.info(ATTACHMENT_STREAM)).state.last_seq;
    } catch (err) {
      if (isStreamNotFound(err)) return;
      throw err;
    }
    let seq = 1;
    for (;;) {
      let got = 0;
      try {
        const iter = await this.#jsm.direct.getBatch(ATTACHMENT_STREAM, {
          seq,
          next_by_subj: ATTACHMENT_META_SUBJECTS,
          batch: 256,
        });
        for await (const m of iter) {
          got++;
          seq = m.seq + 1;
          // Descriptions are rolled up: each subject's last is the only one, so each is current.
          const a = fromDescription(m.json<ObjectDescription>(), m.seq);
          if (a) yield a;
        }
      } catch (err) {
        if (!isNoResults(err)) throw err;
      }
      if (got === 0 || seq > upTo) return;
    }
  }

  async #finishPurge(attachmentId: string, nuid: string): Promise<void> {
    await this.#jsm.streams.purge(ATTACHMENT_STREAM, { filter: attachmentChunkSubject(nuid) });
    await this.#jsm.streams.purge(ATTACHMENT_STREAM, { filter: attachmentMetaSubject(attachmentId) });
  }

  /** The description as stored, deleted or not. */
  async #description(attachmentId: string): Promise<StoredAttachment | undefined> {
    try {
      const m = await this.#jsm.direct.getMessage(ATTACHMENT_STREAM, {
        last_by_subj: attachmentMetaSubject(attachmentId),
      });
      return m ? fromDescription(m.json<ObjectDescription>(), m.seq) : undefined;
    } catch (err) {
      if (isNoResults(err) || isStreamNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Writes `next` as the description if the stored one is still revision `was.revision`. */
  async #rewrite(was: StoredAttachment, next: StoredAttachment): Promise<StoredAttachment> {
    try {
      const seq = await this.#publish(was.attachmentId, next, was.revision);
      return { ...next, revision: seq };
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) {
        throw new AttachmentClaimConflict(`attachment ${was.attachmentId} changed`);
      }
      throw err;
    }
  }

  /** Publishes a description (rolling up the one before), optionally expecting the last one's seq. */
  async #publish(attachmentId: string, a: StoredAttachment, expectRevision?: number): Promise<number> {
    const h = headers();
    h.set(JsHeaders.RollupHdr, JsHeaders.RollupValueSubject);
    const ack = await this.#js.publish(attachmentMetaSubject(attachmentId), JSON.stringify(toDescription(a)), {
      headers: h,
      timeout: this.#timeoutMs,
      ...(expectRevision === undefined ? {} : { expect: { lastSubjectSequence: expectRevision } }),
    });
    return ack.seq;
  }
}

function isStreamNotFound(err: unknown): boolean {
  const e = err as { name?: string; code?: number };
  return e?.name === "StreamNotFoundError" || e?.code === 10059 || /stream not found/i.test(String(err));
}

/** The object store's digest (`SHA-256=<padded base64url>`) as lowercase hex. */
function digestHex(digest: string): string | undefined {
  const m = /^SHA-256=(.+)$/i.exec(digest);
  return m ? Buffer.from(m[1]!, "base64url").toString("hex") : undefined;
}

function fromDescription(d: ObjectDescription, revision: number): StoredAttachment | undefined {
  const md = d.metadata ?? {};
  const sha256 = digestHex(d.digest ?? "");
  const createdAt = Number(md.createdAt);
  if (!md.chat || !md.uploader || !md.fileName || !md.contentType || !sha256 || !Number.isFinite(createdAt)) {
    return undefined;
  }
  const out: StoredAttachment = {
    attachmentId: d.name,
    name: md.fileName,
    size: d.size,
    contentType: md.contentType,
    sha256,
    chat: md.chat,
    uploader: md.uploader,
    createdAt,
    nuid: d.nuid,
    chunks: d.chunks,
    chunkBytes: d.options?.max_chunk_size ?? ATTACHMENT_CHUNK_BYTES,
    revision,
    deleted: d.deleted === true,
  };
  if (md.width && md.height) {
    out.width = Number(md.width);
    out.height = Number(md.height);
  }
  if (md.referencedBy) out.referencedBy = md.referencedBy;
  return out;
}

function toDescription(a: StoredAttachment): ObjectDescription {
  return {
    name: a.attachmentId,
    bucket: ATTACHMENT_BUCKET,
    nuid: a.nuid,
    size: a.size,
    chunks: a.chunks,
    mtime: new Date().toISOString(),
    // Padded base64url, as the object store writes it.
    digest: `SHA-256=${Buffer.from(a.sha256, "hex").toString("base64").replace(/\+/g, "-").replace(/\//g, "_")}`,
    deleted: a.deleted,
    options: { max_chunk_size: a.chunkBytes },
    metadata: {
      chat: a.chat,
      uploader: a.uploader,
      fileName: a.name,
      contentType: a.contentType,
      createdAt: String(a.createdAt),
      ...(a.width !== undefined && a.height !== undefined ? { width: String(a.width), height: String(a.height) } : {}),
      ...(a.referencedBy ? { referencedBy: a.referencedBy } : {}),
    },
  };
}

/** The descriptor a message carries (what the upload answers). */
export function attachmentDescriptor(a: StoredAttachment): Attachment {
  const { attachmentId, name, size, contentType, sha256, width, height } = a;
  return {
    attachmentId,
    name,
    size,
    contentType,
    sha256,
    ...(width !== undefined && height !== undefined ? { width, height } : {}),
  };
}

/** SHA-256 over chunks. */
class Hasher {
  readonly #h = createHash("sha256");
  update(data: Uint8Array): void {
    this.#h.update(data);
  }
  hex(): string {
    return this.#h.digest("hex");
  }
}
