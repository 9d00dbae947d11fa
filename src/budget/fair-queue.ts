// The order in which waiters get slots: priority first, then round-robin between lanes
// (connections) within a priority, FIFO within a lane. So one connection with 1000 queued
// background calls cannot starve another connection's single background call.
import { PRIORITIES, type Priority } from './port.ts';

export interface Queued {
  priority: Priority;
  /** Usually the connection id; waiters without one share a lane. */
  lane: string;
}

export class FairQueue<T extends Queued> {
  // Per priority, lanes in round-robin order: a Map iterates in insertion order, so taking
  // from the first lane and re-inserting it moves that lane to the back of the ring.
  readonly #rings = new Map<Priority, Map<string, T[]>>(PRIORITIES.map((p) => [p, new Map()]));
  readonly #counts = new Map<Priority, number>(PRIORITIES.map((p) => [p, 0]));

  get size(): number {
    let total = 0;
    for (const count of this.#counts.values()) total += count;
    return total;
  }

  count(priority: Priority): number {
    return this.#counts.get(priority) ?? 0;
  }

  push(item: T): void {
    const ring = this.#ring(item.priority);
    const lane = ring.get(item.lane);
    if (lane) lane.push(item);
    else ring.set(item.lane, [item]);
    this.#counts.set(item.priority, this.count(item.priority) + 1);
  }

  /** The waiter that is served next, without taking it. */
  peek(): T | undefined {
    for (const priority of PRIORITIES) {
      for (const lane of this.#ring(priority).values()) return lane[0];
    }
    return undefined;
  }

  /** Takes the waiter `peek` returns and moves its lane to the back of its ring. */
  shift(): T | undefined {
    for (const priority of PRIORITIES) {
      const ring = this.#ring(priority);
      for (const [key, lane] of ring) {
        const item = lane.shift();
        ring.delete(key);
        if (lane.length > 0) ring.set(key, lane);
        if (item) this.#counts.set(priority, this.count(priority) - 1);
        return item;
      }
    }
    return undefined;
  }

  /** Removes a waiter that gives up (deadline, abort); false when it is not queued. */
  remove(item: T): boolean {
    const ring = this.#ring(item.priority);
    const lane = ring.get(item.lane);
    const index = lane ? lane.indexOf(item) : -1;
    if (!lane || index < 0) return false;
    lane.splice(index, 1);
    if (lane.length === 0) ring.delete(item.lane);
    this.#counts.set(item.priority, this.count(item.priority) - 1);
    return true;
  }

  /** Empties the queue, returning every waiter in service order. */
  drain(): T[] {
    const items: T[] = [];
    for (let item = this.shift(); item; item = this.shift()) items.push(item);
    return items;
  }

  #ring(priority: Priority): Map<string, T[]> {
    return this.#rings.get(priority)!;
  }
}
