import type { ChatSettings, PushSubscriptionRow } from "../store.ts";
import { type Cql, num, type Row } from "./cql.ts";

/**
 * Whole rows with the driver's timestamps: the last write wins, as SQLite's upsert. A
 * subscription is deleted outright (one tombstone per removed browser, rare); settings are
 * rewritten, never deleted.
 */
export async function putPushSubscription(cql: Cql, s: PushSubscriptionRow): Promise<void> {
  await cql.execute(
    `INSERT INTO ${cql.t("push_subscriptions")} (user_id, subscription_id, device_id, endpoint, p256dh, auth, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
    [s.userId, s.subscriptionId, s.deviceId, s.endpoint, s.p256dh, s.auth, s.createdAt],
  );
}

function toSubscription(row: Row): PushSubscriptionRow {
  return {
    userId: row.get("user_id"),
    subscriptionId: row.get("subscription_id"),
    deviceId: row.get("device_id"),
    endpoint: row.get("endpoint"),
    p256dh: row.get("p256dh"),
    auth: row.get("auth"),
    createdAt: num(row.get("created_at")),
  };
}

export async function listPushSubscriptions(cql: Cql, userId: string): Promise<PushSubscriptionRow[]> {
  return (await cql.rows("push_subscriptions", { user_id: userId })).map(toSubscription);
}

export async function deletePushSubscription(cql: Cql, userId: string, subscriptionId: string): Promise<void> {
  await cql.execute(`DELETE FROM ${cql.t("push_subscriptions")} WHERE user_id = ? AND subscription_id = ?`, [
    userId,
    subscriptionId,
  ]);
}

export async function putChatSettings(cql: Cql, s: ChatSettings): Promise<void> {
  await cql.execute(`INSERT INTO ${cql.t("chat_settings")} (user_id, chat_id, muted_until) VALUES (?, ?, ?)`, [
    s.userId,
    s.chatId,
    s.mutedUntil,
  ]);
}

export async function getChatSettings(cql: Cql, chatId: string, userId: string): Promise<ChatSettings | undefined> {
  const row = await cql.row("chat_settings", { user_id: userId, chat_id: chatId });
  return row ? { chatId, userId, mutedUntil: num(row.get("muted_until")) } : undefined;
}
