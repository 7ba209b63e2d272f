/** A Worker module for worker_thread_test.ts that fails while loading. */
throw new Error("broken on purpose");
