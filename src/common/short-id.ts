/** Pure: a container id as Docker prints it in messages and tables, its first 12 characters. */
export function shortId(containerId: string): string {
  return containerId.slice(0, 12);
}
