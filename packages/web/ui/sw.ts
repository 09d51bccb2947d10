/**
 * The web client's service worker (v1.1 push): shows a notification for each push the
 * push consumer sends (docs/protocol.md "Push"), and opens the chat when it is clicked.
 * Bundled on its own by build.ts (`assets/sw.<hash>.js`); its scope is `/assets/`, which
 * is enough: a worker receives its registration's pushes whatever pages it controls.
 */
import type { PushNotification } from "@natter/protocol";

// The worker's globals, declared here: the page's program has the DOM's types, not the
// webworker lib's, and the two cannot be mixed in one program.
interface WindowClientLike {
  url: string;
  focus(): Promise<unknown>;
  postMessage(message: unknown): void;
}
interface NotificationEventLike extends Event {
  notification: { data: unknown; close(): void };
  waitUntil(p: Promise<unknown>): void;
}
interface PushEventLike extends Event {
  data: { json(): unknown } | null;
  waitUntil(p: Promise<unknown>): void;
}
interface WorkerScope {
  registration: ServiceWorkerRegistration;
  clients: {
    matchAll(opts: { type: "window"; includeUncontrolled: boolean }): Promise<WindowClientLike[]>;
    openWindow(url: string): Promise<unknown>;
    claim(): Promise<void>;
  };
  location: Location;
  skipWaiting(): Promise<void>;
  addEventListener(type: "push", fn: (e: PushEventLike) => void): void;
  addEventListener(type: "notificationclick", fn: (e: NotificationEventLike) => void): void;
  addEventListener(
    type: "install" | "activate",
    fn: (e: Event & { waitUntil(p: Promise<unknown>): void }) => void,
  ): void;
}
const worker = globalThis as unknown as WorkerScope;

/** The title a notification shows: "Ana", or "5 new messages from Ana". */
function titleOf(p: PushNotification): string {
  return p.count > 1 ? `${p.count} new messages from ${p.fromName}` : p.fromName;
}

worker.addEventListener("install", (e) => e.waitUntil(worker.skipWaiting()));
worker.addEventListener("activate", (e) => e.waitUntil(worker.clients.claim()));

worker.addEventListener("push", (e) => {
  const p = e.data?.json() as PushNotification | undefined;
  if (!p?.chat) return;
  // The notification id as its tag: a repeat (a redelivery) replaces itself, never shows twice.
  e.waitUntil(
    worker.registration.showNotification(titleOf(p), {
      body: p.preview ?? (p.count > 1 ? "New messages" : "New message"),
      tag: p.notificationId,
      data: { chat: p.chat, n: p.n },
      icon: "/assets/favicon.svg",
    }),
  );
});

worker.addEventListener("notificationclick", (e) => {
  e.notification.close();
  const { chat } = e.notification.data as { chat: string };
  e.waitUntil(
    (async () => {
      const origin = worker.location.origin;
      const tabs = (await worker.clients.matchAll({ type: "window", includeUncontrolled: true })).filter((c) =>
        c.url.startsWith(origin),
      );
      const tab = tabs[0];
      if (tab) {
        await tab.focus();
        tab.postMessage({ type: "natter:open", chat });
      } else {
        await worker.clients.openWindow(`${origin}/#chat=${encodeURIComponent(chat)}`);
      }
    })(),
  );
});
