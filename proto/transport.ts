// Transport facts shared by server and client: the HTTP/2 flow-control window both ends grant by default
// (docs/service.md, Transport, has the measurements behind the numbers).

const MIB = 1024 * 1024;

/**
 * The HTTP/2 receive window (connection and stream) on both ends by default. Node's own default, 64 KiB, caps one
 * stream at 64 KiB per round trip (64 MB/s at 1 ms); 1 MiB covers a 1 GB/s link at 1 ms. On a busy 2-core loopback
 * host larger windows measured slower, not faster (docs/service.md, Transport: Figures), hence not more. The window
 * must stay well below what the kernel buffers on one connection: Node's HTTP/2 session stops reading its socket while one of its own socket writes is pending
 * (node_http2.cc, MaybeStopReading), so two peers that each have more unacknowledged data in flight than the
 * socket buffers hold wait for each other forever.
 */
export const DEFAULT_WINDOW_BYTES = 1 * MIB;
/**
 * The largest window either end accepts (see DEFAULT_WINDOW_BYTES for why there is a bound at all). Measured with
 * test/service/windows.test.ts on loopback (tcp_wmem max 4 MiB): windows of 16 and 64 MiB hung every time, 8 MiB
 * one run in three, 4 and 6 MiB never.
 */
export const MAX_WINDOW_BYTES = 4 * MIB;
/** Node's (and HTTP/2's) initial window: "today's settings". */
export const HTTP2_DEFAULT_WINDOW_BYTES = 65535;
