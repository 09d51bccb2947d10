/**
 * Push in the web client (v1.1): the "Notifications" switch (the service worker, the
 * browser's push subscription with the deployment's VAPID key, registered with the
 * gateway and bound to this device session), per-chat mute, and opening the chat a
 * notification was clicked for. The service worker itself is `sw.ts`.
 */
import type { NatterClient } from "@natter/client";
import { h } from "./dom.ts";

/** The subscription id the gateway gave this browser, per user (set while notifications are on). */
const subscriptionKey = (userId: string) => `natter:push:${userId}`;
/** The chats I muted from this browser (the server keeps the truth; this only labels the button). */
const mutedKey = (userId: string) => `natter:muted:${userId}`;

/** The service worker's URL (content-hashed by the build, named in the page's `<meta name="natter-sw">`). */
function workerUrl(): string | undefined {
  return document.querySelector<HTMLMetaElement>('meta[name="natter-sw"]')?.content || undefined;
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Resolves once the registration has an active worker (its scope, `/assets/`, does not cover the page, so `ready` never would). */
async function activated(reg: ServiceWorkerRegistration): Promise<ServiceWorkerRegistration> {
  for (let i = 0; i < 100 && !reg.active; i++) await new Promise((r) => setTimeout(r, 100));
  if (!reg.active) throw new Error("the service worker did not start");
  return reg;
}

export class PushControls {
  readonly #client: NatterClient;
  readonly #me: string;
  readonly #checkbox: HTMLInputElement;
  /** The switch, a row under the chat list's bar. */
  readonly switchEl: HTMLLabelElement;
  /** The conversation bar's mute button. */
  readonly muteBtn: HTMLButtonElement;
  #chat: string | undefined;
  #off: (() => void) | undefined;

  constructor(client: NatterClient, me: string) {
    this.#client = client;
    this.#me = me;
    this.#checkbox = h("input", {
      type: "checkbox",
      id: "push-switch",
      onchange: () => void this.#toggle(this.#checkbox.checked),
    });
    this.#checkbox.checked = localStorage.getItem(subscriptionKey(me)) !== null;
    this.switchEl = h(
      "label",
      { class: "push-switch", title: "Notifications when no tab of mine is open" },
      this.#checkbox,
      "Notifications",
    );
    const supported = workerUrl() !== undefined && "serviceWorker" in navigator && "PushManager" in window;
    this.switchEl.hidden = !supported;
    this.muteBtn = h(
      "button",
      { type: "button", class: "ghost", id: "mute", onclick: () => void this.#toggleMute() },
      "Mute",
    );
  }

  /** Opens the chat a clicked notification names: now (a `#chat=` link) and whenever the service worker asks. */
  start(open: (chatId: string) => void): void {
    const fromHash = /^#chat=([\w-]+)$/.exec(location.hash)?.[1];
    if (fromHash) {
      history.replaceState(null, "", location.pathname);
      open(fromHash);
    }
    if (!("serviceWorker" in navigator)) return;
    const onMessage = (e: MessageEvent) => {
      const data = e.data as { type?: string; chat?: string } | undefined;
      if (data?.type === "natter:open" && data.chat) open(data.chat);
    };
    navigator.serviceWorker.addEventListener("message", onMessage);
    this.#off = () => navigator.serviceWorker.removeEventListener("message", onMessage);
  }

  stop(): void {
    this.#off?.();
  }

  /** The conversation shown changed: the mute button follows it. */
  showChat(chatId: string): void {
    this.#chat = chatId;
    this.#label();
  }

  #muted(): Set<string> {
    try {
      return new Set(JSON.parse(localStorage.getItem(mutedKey(this.#me)) ?? "[]") as string[]);
    } catch {
      return new Set();
    }
  }

  #label(): void {
    const muted = this.#chat !== undefined && this.#muted().has(this.#chat);
    this.muteBtn.textContent = muted ? "Unmute" : "Mute";
    this.muteBtn.setAttribute("aria-pressed", String(muted));
  }

  async #toggleMute(): Promise<void> {
    const chat = this.#chat;
    if (!chat) return;
    const set = this.#muted();
    const muted = !set.has(chat);
    await this.#client.http.muteChat(chat, muted);
    if (muted) set.add(chat);
    else set.delete(chat);
    localStorage.setItem(mutedKey(this.#me), JSON.stringify([...set]));
    this.#label();
  }

  async #toggle(on: boolean): Promise<void> {
    this.#checkbox.disabled = true;
    try {
      if (on) await this.#enable();
      else await this.#disable();
    } catch (err) {
      console.warn("natter: notifications:", err);
      this.#checkbox.checked = !on;
      this.switchEl.title = `Notifications: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      this.#checkbox.disabled = false;
    }
  }

  async #enable(): Promise<void> {
    if ((await Notification.requestPermission()) !== "granted")
      throw new Error("notifications are blocked for this site");
    const key = await this.#client.http.vapidKey();
    const reg = await activated(await navigator.serviceWorker.register(workerUrl()!));
    const sub =
      (await reg.pushManager.getSubscription()) ??
      (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }));
    const json = sub.toJSON() as { endpoint: string; keys: { p256dh: string; auth: string } };
    const id = await this.#client.http.subscribePush(json);
    localStorage.setItem(subscriptionKey(this.#me), id);
  }

  async #disable(): Promise<void> {
    const id = localStorage.getItem(subscriptionKey(this.#me));
    if (id) await this.#client.http.unsubscribePush(id);
    localStorage.removeItem(subscriptionKey(this.#me));
    const reg = await navigator.serviceWorker.getRegistration(workerUrl());
    await (await reg?.pushManager.getSubscription())?.unsubscribe();
  }

  /** Logging out: the server drops this session's subscription itself; forget the local marks. */
  forget(): void {
    localStorage.removeItem(subscriptionKey(this.#me));
  }
}
