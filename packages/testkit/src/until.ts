/**
 * Resolves once `cond()` holds, checking every `everyMs`; throws after `ms` naming `what`.
 * The one polling wait of the tests: every wait bounded, the timeout saying what was awaited.
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 15_000,
  what = "condition",
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
