/**
 * `Promise.withResolvers` (ES2024) for Node 20. The embedded engine's ASL interpreter
 * (aws-local-stepfunctions, which declares Node >= 22) calls it for every Task state; Node 22 and
 * later have it natively, and there this module does nothing. Imported for its effect, before the
 * interpreter (see aslInterpreter.ts). Remove it once the project requires Node >= 22.
 */
interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

type PromiseWithResolvers = PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> };

const P = Promise as PromiseWithResolvers;
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new this<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

/** True when the running Node has Promise.withResolvers (natively or from this module). */
export function hasPromiseWithResolvers(): boolean {
  return typeof (Promise as PromiseWithResolvers).withResolvers === 'function';
}
