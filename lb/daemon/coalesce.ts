// A job run through a queue that joins asks while it waits for its turn: a burst of asks costs one run. Pure.

/**
 * Returns ask(): it queues `job` through `enqueue`, unless a run asked for earlier has not begun yet; then it is that
 * run (the same promise). A run that has begun is not joined: the job reads its inputs when it begins, so an ask after
 * that needs a run of its own.
 */
export function coalesced(enqueue: (run: () => void) => Promise<void>, job: () => void): () => Promise<void> {
  let waiting: Promise<void> | undefined;
  return () => {
    waiting ??= enqueue(() => {
      waiting = undefined;
      job();
    });
    return waiting;
  };
}
