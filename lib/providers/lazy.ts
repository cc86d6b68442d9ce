/**
 * A value made on first use, once: the provider SDKs are imported and their clients built only
 * when a routed provider is first called (they cost tens of MB of memory). A failed attempt is
 * forgotten so the next call tries again.
 */
export function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((error: unknown) => {
      made = undefined;
      throw error;
    });
    return made;
  };
}
