import assert from "node:assert/strict";
import { cString, dlopenFromBytes, loadShim, SHIM_PATH } from "./shim.ts";
import { errnoText } from "./errno.ts";

Deno.test("dlopenFromBytes() loads the shim through a memfd, as a compiled binary does", async () => {
  await loadShim(); // builds the file when it is missing
  const library = dlopenFromBytes(Deno.readFileSync(SHIM_PATH));
  try {
    assert.equal(library.symbols.shim_access(cString("/")), 0);
    assert.equal(library.symbols.shim_access(cString("/nonexistent/x")), -2);
  } finally {
    library.close();
  }
});

Deno.test("shim wrappers return -errno instead of setting errno", async () => {
  const shim = await loadShim();
  assert.equal(shim.shim_close(987654), -9);
  assert.equal(shim.shim_fd_inherited(987654), -9);
  assert.equal(shim.shim_read(987654, new Uint8Array(4), 4), -9);
  assert.equal(errnoText(shim, 1), "Operation not permitted");
});

Deno.test("shim_tap_name() rejects an fd that is not a tap", async () => {
  const shim = await loadShim();
  const fd = shim.shim_eventfd();
  assert.ok(fd >= 0);
  try {
    assert.ok(shim.shim_tap_name(fd, new Uint8Array(16)) < 0);
  } finally {
    shim.shim_close(fd);
  }
});

Deno.test("shim_fd_inherited() tells inherited fds from the runtime's close-on-exec ones", async () => {
  const shim = await loadShim();
  assert.equal(shim.shim_fd_inherited(2), 0);
  const own = shim.shim_eventfd(); // close-on-exec, as every fd the runtime opens
  try {
    assert.equal(shim.shim_fd_inherited(own), -9);
  } finally {
    shim.shim_close(own);
  }
});
