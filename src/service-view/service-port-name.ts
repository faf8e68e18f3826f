/** `ns/name:port` (`ns/name` for an unnamed port): kube-proxy's ServicePortName, the identity chain names hash. */
export function servicePortName(namespace: string, name: string, portName: string | undefined): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}
