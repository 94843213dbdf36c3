import Policy
import Upstream

/// Normalize: the raw request target and headers must be unambiguous before anything is decided.
/// Refusals are 400 (ambiguous), 404 (no such route), 405 (wrong method, with `Allow`); nothing
/// is ever rewritten into an allowed shape.
enum NormalizeStage {
    static func run(_ request: ServerRequest, runtime: GatewayRuntime) throws(GatewayError) -> NormalizedRequest {
        do {
            try HeaderCheck.check(request.headers.fields)
        } catch {
            throw GatewayError(error.status, error.message)
        }
        do {
            return try runtime.normalizer.normalize(method: request.method, rawTarget: request.rawTarget)
        } catch {
            var headers = HeaderList()
            if case .methodNotAllowed(let allowed) = error { headers.append("Allow", allowed.joined(separator: ", ")) }
            throw GatewayError(error.status, error.message, headers: headers)
        }
    }
}
