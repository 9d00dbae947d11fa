// Runs tasks with at most `concurrency` at once. The first failure aborts the rest (through the
// controller the tasks listen to) and is the one rethrown; later ones are its echoes.

export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  controller: AbortController,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && !controller.signal.aborted) {
      const index = next++;
      if (index >= items.length) return;
      try {
        await task(items[index] as T);
      } catch (error) {
        if (failure === undefined) {
          failure = { error };
          controller.abort(error);
        }
        return;
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker),
  );
  if (failure) throw failure.error;
  controller.signal.throwIfAborted();
}
