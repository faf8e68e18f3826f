/** A gate a test closes to hold an async call in flight (a runner's run, a consumer's call) until it opens it again. */
export class Gate {
  /** While the gate is closed, the promise that resolves when it opens. */
  closed: Promise<void> | undefined;

  /** Closes the gate; the returned function opens it. */
  block(): () => void {
    let open!: () => void;
    this.closed = new Promise((r) => {
      open = r;
    });
    return () => {
      this.closed = undefined;
      open();
    };
  }
}
