import type { ChatSettings, PushSubscriptionRow } from "../store.ts";
import type { SqliteDb } from "./db.ts";

export function putPushSubscription(db: SqliteDb, s: PushSubscriptionRow): void {
  db.run(
    `INSERT INTO push_subscriptions (user_id, subscription_id, device_id, endpoint, p256dh, auth, created_at)
     VALUES ($userId, $subscriptionId, $deviceId, $endpoint, $p256dh, $auth, $createdAt)
     ON CONFLICT (user_id, subscription_id) DO UPDATE SET
       device_id = excluded.device_id, endpoint = excluded.endpoint, p256dh = excluded.p256dh,
       auth = excluded.auth, created_at = excluded.created_at`,
    { ...s },
  );
}

function toSubscription(row: Record<string, unknown>): PushSubscriptionRow {
  return {
    userId: row.user_id as string,
    subscriptionId: row.subscription_id as string,
    deviceId: row.device_id as string,
    endpoint: row.endpoint as string,
    p256dh: row.p256dh as string,
    auth: row.auth as string,
    createdAt: Number(row.created_at),
  };
}

export function listPushSubscriptions(db: SqliteDb, userId: string): PushSubscriptionRow[] {
  return db.all("SELECT * FROM push_subscriptions WHERE user_id = $userId", { userId }).map(toSubscription);
}

export function deletePushSubscription(db: SqliteDb, userId: string, subscriptionId: string): void {
  db.run("DELETE FROM push_subscriptions WHERE user_id = $userId AND subscription_id = $subscriptionId", {
    userId,
    subscriptionId,
  });
}

export function putChatSettings(db: SqliteDb, s: ChatSettings): void {
  db.run(
    `INSERT INTO chat_settings (user_id, chat_id, muted_until) VALUES ($userId, $chatId, $mutedUntil)
     ON CONFLICT (user_id, chat_id) DO UPDATE SET muted_until = excluded.muted_until`,
    { userId: s.userId, chatId: s.chatId, mutedUntil: s.mutedUntil },
  );
}

export function getChatSettings(db: SqliteDb, chatId: string, userId: string): ChatSettings | undefined {
  const row = db.get("SELECT * FROM chat_settings WHERE user_id = $userId AND chat_id = $chatId", { userId, chatId });
  return row ? { chatId, userId, mutedUntil: Number(row.muted_until) } : undefined;
}
