/// One entry of an Astro 400's `fieldErrors`.
struct FieldError: Sendable, Equatable {
    let field: String
    let code: String
    let message: String

    var json: JSONValue {
        .object(["field": .string(field), "code": .string(code), "message": .string(message)])
    }
}

/// Astro's error body: `{"statusCode","message","requestId","fieldErrors"?}` as application/json.
enum AstroError {
    static func response(
        _ status: Int, _ message: String, requestId: String, fieldErrors: [FieldError] = []
    ) -> SimulatorResponse {
        var body: JSONObject = [
            "statusCode": .integer(Int64(status)),
            "message": .string(message),
            "requestId": .string(requestId),
        ]
        if !fieldErrors.isEmpty { body["fieldErrors"] = .array(fieldErrors.map(\.json)) }
        return .json(status, .object(body))
    }

    static func validation(_ fieldErrors: [FieldError], requestId: String) -> SimulatorResponse {
        response(400, "request failed validation", requestId: requestId, fieldErrors: fieldErrors)
    }
}
