/**
 * What a sink received, in order, plus a way to wait for a particular item. Bounded: the oldest
 * items go once `limit` is reached, so a long-running sandbox does not grow without end.
 */
export interface Recorder<T> {
  /** live list, oldest first */
  readonly items: T[];
  add(item: T): void;
  /** the first recorded (or future) item matching `pred`; rejects after `timeoutMs` */
  waitFor(pred: (item: T) => boolean, timeoutMs?: number): Promise<T>;
  /** rejects every pending waitFor (the sink is stopping) */
  cancelWaiters(reason: string): void;
}

interface Waiter<T> {
  pred: (item: T) => boolean;
  resolve: (item: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export function createRecorder<T>(what: string, limit = 1000): Recorder<T> {
  const items: T[] = [];
  const waiters = new Set<Waiter<T>>();

  return {
    items,
    add(item) {
      items.push(item);
      if (items.length > limit) items.splice(0, items.length - limit);
      for (const waiter of waiters) {
        if (!waiter.pred(item)) continue;
        waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(item);
      }
    },
    waitFor(pred, timeoutMs = 5000) {
      const found = items.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<T>((resolve, reject) => {
        const waiter: Waiter<T> = {
          pred,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(new Error(`no matching ${what} within ${timeoutMs} ms (${items.length} received)`));
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    cancelWaiters(reason) {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`${what}: ${reason}`));
      }
      waiters.clear();
    },
  };
}
