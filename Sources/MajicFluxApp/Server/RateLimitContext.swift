import Hummingbird
import NIOCore

/// The console's request context: Hummingbird's basic one plus the client's address, which the
/// rate limit counts requests by.
struct ConsoleRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The connection's peer; nil when the channel does not know it.
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address as text ("unknown" when the channel does not say).
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}
