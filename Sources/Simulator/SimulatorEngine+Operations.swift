import Policy

/// A request that fails validation: the `fieldErrors` of the 400.
struct ValidationFailure: Error {
    let fieldErrors: [FieldError]

    init(_ field: String, _ code: String, _ message: String) {
        fieldErrors = [FieldError(field: field, code: code, message: message)]
    }
}

extension SimulatorEngine {
    /// Answers a request that matched a catalogue route.
    mutating func perform(_ matched: Call, rawBody: [UInt8]) -> SimulatorResponse {
        var call = matched
        let operationId = call.route.operationId
        if let missing = missingItem(call) { return missing }
        if let required = Fixtures.requiredQuery[operationId] {
            let absent = required.filter { call.query.values($0).isEmpty }
            if !absent.isEmpty {
                return call.invalid(
                    absent.map { FieldError(field: $0, code: "required", message: "\($0) is required") })
            }
        }
        if call.route.method == "POST" {
            switch Self.parseBody(rawBody) {
            case .success(let body): call.body = body
            case .failure(let failure): return call.invalid(failure.fieldErrors)
            }
            if config.validateRequiredFields, let required = Fixtures.requiredFields[operationId] {
                let absent = required.filter { call.body[$0] == nil || call.body[$0] == .null }
                if !absent.isEmpty {
                    return call.invalid(
                        absent.map { FieldError(field: $0, code: "required", message: "\($0) must be set") })
                }
            }
        }

        switch operationId {
        case "ListPermissionGroups": return .json(200, Fixtures.permissionGroups)
        case "ListRoleTemplates": return .json(200, Fixtures.roleTemplates)
        case "GetClusterOptions": return clusterOptions(call)
        case "GetDeploymentOptions": return .json(200, Fixtures.deploymentOptions)
        case "GetSelfUser": return selfUser(call)
        case "GetOrganizationAuditLogs": return auditLogs(call)
        case "AddTeamMembers": return addTeamMembers(call)
        default: break
        }

        let segments = call.segments
        switch shapes.shape(of: call.route) {
        case .list:
            return list(call, collection: segments)
        case .create:
            return create(call, collection: segments)
        case .get:
            return .json(200, .object(store.item(in: Array(segments.dropLast()), id: segments.last!) ?? [:]))
        case .update:
            return update(call, collection: Array(segments.dropLast()), id: segments.last!)
        case .delete:
            store.remove(from: Array(segments.dropLast()), id: segments.last!)
            return .noContent
        case .itemAction(let action):
            return itemAction(action, call, collection: Array(segments.dropLast(2)), id: segments[segments.count - 2])
        case .collectionAction(let action):
            return collectionAction(action, call, collection: Array(segments.dropLast()))
        case .standalone:
            return call.route.method == "GET" ? .json(200, .object([:])) : .json(200, .object(call.body))
        }
    }

    /// A 404 naming the first path parameter that is not an existing item of the collection before it.
    func missingItem(_ call: Call) -> SimulatorResponse? {
        for (index, segment) in call.route.segments.enumerated() {
            guard case .parameter(let name) = segment,
                shapes.collection(for: Array(call.route.segments.prefix(index))) != nil
            else { continue }
            let collection = Array(call.segments.prefix(index))
            if store.item(in: collection, id: call.segments[index]) == nil {
                return call.fail(404, "\(RouteShapes.kindName(parameter: name)) \(call.segments[index]) not found")
            }
        }
        return nil
    }

    static func parseBody(_ raw: [UInt8]) -> Result<JSONObject, ValidationFailure> {
        if raw.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return .success([:]) }
        let value: JSONValue
        do {
            value = try JSONValue.parse(raw)
        } catch {
            return .failure(ValidationFailure("body", "invalid", "request body is not valid JSON (\(error))"))
        }
        guard case .object(let object) = value else {
            return .failure(ValidationFailure("body", "type", "request body must be a JSON object"))
        }
        return .success(object)
    }

    // MARK: - Collections

    func list(_ call: Call, collection: [String]) -> SimulatorResponse {
        let itemsKey = shapes.collection(for: call.route.segments)?.itemsKey ?? (collection.last ?? "items")
        var items = store.items(in: collection)
        for (parameter, field) in Self.listFilters {
            let wanted = Set(call.query.values(parameter))
            if !wanted.isEmpty { items = items.filter { $0[field]?.stringValue.map(wanted.contains) ?? false } }
        }
        var extra: JSONObject = [:]
        if call.route.operationId == "ListRoles", call.query.first("includeDefaultRoles") == "true" {
            extra["defaultRoles"] = Fixtures.defaultRoles
        }
        return page(call, items: items, itemsKey: itemsKey, extra: extra)
    }

    /// Query filters on lists: parameter → the item field it matches (items without it never match).
    static let listFilters: [(parameter: String, field: String)] = [
        ("workspaceIds", "workspaceId"), ("workspaceId", "workspaceId"), ("deploymentIds", "id"),
        ("deploymentId", "deploymentId"), ("names", "name"),
    ]

    /// Sorts (`sorts=field:asc|desc`, repeatable) and pages (`offset`, `limit`) a list.
    func page(_ call: Call, items: [JSONObject], itemsKey: String, extra: JSONObject = [:]) -> SimulatorResponse {
        let paging: Paging
        let sortedItems: [JSONObject]
        do {
            paging = try Paging(
                query: call.query, maximumLimit: Fixtures.cappedLists.contains(call.route.operationId) ? 1000 : nil)
            sortedItems = try ListSorting(call.query.values("sorts")).apply(to: items)
        } catch {
            return call.invalid(error.fieldErrors)
        }
        var body = extra
        body[itemsKey] = .array(paging.slice(sortedItems).map(JSONValue.object))
        body["offset"] = .integer(Int64(paging.offset))
        body["limit"] = .integer(Int64(paging.limit))
        body["totalCount"] = .integer(Int64(items.count))
        return .json(200, .object(body))
    }

    mutating func create(_ call: Call, collection: [String]) -> SimulatorResponse {
        .json(200, .object(insertNew(call, collection: collection)))
    }

    /// Stores a new resource built from the request body and returns it as the create answers it.
    mutating func insertNew(_ call: Call, collection: [String]) -> JSONObject {
        let literal = collection.last ?? ""
        let id = ids.cuid()
        var object = Fixtures.createDefaults(collection: literal)
        object.merge(call.body) { _, new in new }
        stamp(&object, call: call, creating: true)
        object["id"] = .string(id)
        var response = object
        if literal == "tokens" || literal == "agent-tokens" {
            object.removeValue(forKey: "token")
            object["tokenStartAt"] = .string(call.context.timestamp)
            response = object
            response["token"] = .string(newTokenSecret())
        }
        store.put(object, in: collection, id: id)
        return response
    }

    mutating func update(_ call: Call, collection: [String], id: String) -> SimulatorResponse {
        guard var object = store.item(in: collection, id: id) else { return call.fail(404, "not found") }
        let immutable = Set(["id", "createdAt", "createdBy"]).union(call.parameters.keys)
        for (key, value) in call.body where !immutable.contains(key) { object[key] = value }
        stamp(&object, call: call, creating: false)
        store.put(object, in: collection, id: id)
        return .json(200, .object(object))
    }

    /// Sets the parent ids from the path and the created/updated marks.
    func stamp(_ object: inout JSONObject, call: Call, creating: Bool) {
        let subject: JSONValue = .object([
            "id": .string(call.tokenId), "subjectType": .string("SERVICEKEY"), "apiTokenName": .string(call.tokenId),
        ])
        if creating {
            for (name, value) in call.parameters { object[name] = .string(value) }
            object["createdAt"] = .string(call.context.timestamp)
            object["createdBy"] = subject
        }
        object["updatedAt"] = .string(call.context.timestamp)
        object["updatedBy"] = subject
    }

    mutating func newTokenSecret() -> String { "astro_sim_" + ids.cuid() + ids.cuid() }

    // MARK: - Actions

    mutating func itemAction(_ action: String, _ call: Call, collection: [String], id: String) -> SimulatorResponse {
        guard var object = store.item(in: collection, id: id) else { return call.fail(404, "not found") }
        switch (call.route.method, action) {
        case ("GET", "logs"):
            return deploymentLogs(call)
        case ("GET", "teams"):
            return userTeams(call, userId: id)
        case ("POST", "hibernation-override"):
            guard let hibernating = call.body["isHibernating"]?.boolValue else {
                return call.invalid(
                    ValidationFailure("isHibernating", "type", "isHibernating must be a boolean").fieldErrors)
            }
            var override: JSONObject = ["isHibernating": .bool(hibernating), "isActive": .bool(true)]
            if let until = call.body["overrideUntil"] { override["overrideUntil"] = until }
            object.setNested(["scalingSpec", "hibernationSpec", "override"], to: .object(override))
            stamp(&object, call: call, creating: false)
            store.put(object, in: collection, id: id)
            return .json(200, .object(override))
        case ("DELETE", "hibernation-override"):
            object.setNested(["scalingSpec", "hibernationSpec", "override"], to: nil)
            stamp(&object, call: call, creating: false)
            store.put(object, in: collection, id: id)
            return .noContent
        case ("POST", "roles"):
            for key in ["organizationRole", "workspaceRoles", "deploymentRoles"] {
                if let value = call.body[key] { object[key] = value }
            }
            stamp(&object, call: call, creating: false)
            store.put(object, in: collection, id: id)
            var roles: JSONObject = [:]
            for key in ["organizationRole", "workspaceRoles", "deploymentRoles"] { roles[key] = object[key] }
            return .json(200, .object(roles))
        case ("POST", "rotate"):
            stamp(&object, call: call, creating: false)
            object["tokenStartAt"] = .string(call.context.timestamp)
            store.put(object, in: collection, id: id)
            var response = object
            response["token"] = .string(newTokenSecret())
            return .json(200, .object(response))
        case ("POST", "exclude-linking"):
            object["excludeLinks"] = .array((object["excludeLinks"]?.arrayValue ?? []) + [.object(call.body)])
            store.put(object, in: collection, id: id)
            return .noContent
        case ("POST", _):
            object.merge(call.body.filter { $0.key != "id" && $0.key != "createdAt" }) { _, new in new }
            if action == "finalize" || action == "rollback" { object["status"] = .string("DEPLOYED") }
            if action == "rollback" { object["isRollback"] = .bool(true) }
            stamp(&object, call: call, creating: false)
            store.put(object, in: collection, id: id)
            return .json(200, .object(object))
        case ("DELETE", _):
            return .noContent
        default:
            return .json(200, .object(object))
        }
    }

    mutating func collectionAction(_ action: String, _ call: Call, collection: [String]) -> SimulatorResponse {
        let itemsKey = shapes.collection(for: Array(call.route.segments.dropLast()))?.itemsKey ?? "items"
        switch action {
        case "bulk-create":
            guard let entries = call.body[itemsKey]?.arrayValue, !entries.isEmpty else {
                return call.invalid(
                    ValidationFailure(itemsKey, "required", "\(itemsKey) must be a non-empty array").fieldErrors)
            }
            var bodies: [JSONObject] = []
            for entry in entries {
                switch entry {
                case .string(let range): bodies.append(["ipAddressRange": .string(range)])
                case .object(let fields): bodies.append(fields)
                default:
                    return call.invalid(
                        ValidationFailure(itemsKey, "type", "entries must be strings or objects").fieldErrors)
                }
            }
            var seen = Set(store.items(in: collection).compactMap { $0["ipAddressRange"]?.stringValue })
            for body in bodies {
                if let range = body["ipAddressRange"]?.stringValue, !seen.insert(range).inserted {
                    return call.fail(409, "allowed IP address range \(range) already exists")
                }
            }
            var created: [JSONValue] = []
            for body in bodies {
                var single = call
                single.body = body
                created.append(.object(insertNew(single, collection: collection)))
            }
            return .json(200, .object([itemsKey: .array(created)]))
        case "bulk-delete":
            let idsKey = String(itemsKey.dropLast()) + "Ids"
            guard let ids = call.body[idsKey]?.arrayValue?.compactMap(\.stringValue), !ids.isEmpty else {
                return call.invalid(
                    ValidationFailure(idsKey, "required", "\(idsKey) must be a non-empty array").fieldErrors)
            }
            for id in ids { store.remove(from: collection, id: id) }
            return .noContent
        default:
            return .json(200, .object(call.body))
        }
    }

    mutating func addTeamMembers(_ call: Call) -> SimulatorResponse {
        guard let memberIds = call.body["memberIds"]?.arrayValue, !memberIds.isEmpty,
            memberIds.allSatisfy({ $0.stringValue != nil })
        else {
            return call.invalid(
                ValidationFailure("memberIds", "type", "memberIds must be a non-empty array of user ids").fieldErrors)
        }
        let organizationId = call.parameters["organizationId"] ?? config.organizationId
        for userId in memberIds.compactMap(\.stringValue) where store.item(in: call.segments, id: userId) == nil {
            let user = store.item(in: ["organizations", organizationId, "users"], id: userId)
            var member: JSONObject = ["userId": .string(userId)]
            member["username"] = user?["username"] ?? .string(userId)
            member["fullName"] = user?["fullName"] ?? .string(userId)
            stamp(&member, call: call, creating: true)
            member["id"] = .string(userId)
            store.put(member, in: call.segments, id: userId)
        }
        return .noContent
    }

    func userTeams(_ call: Call, userId: String) -> SimulatorResponse {
        let teamsPath = Array(call.segments.prefix(2)) + ["teams"]
        let teams = store.items(in: teamsPath).filter { team in
            guard let teamId = team["id"]?.stringValue else { return false }
            return store.item(in: teamsPath + [teamId, "members"], id: userId) != nil
        }
        return page(call, items: teams, itemsKey: "teams")
    }

    // MARK: - Reference data and logs

    func clusterOptions(_ call: Call) -> SimulatorResponse {
        guard let provider = call.query.first("provider"), case .array(let options) = Fixtures.clusterOptions else {
            return .json(200, Fixtures.clusterOptions)
        }
        return .json(200, .array(options.filter { $0["provider"]?.stringValue == provider }))
    }

    func selfUser(_ call: Call) -> SimulatorResponse {
        let stored = store.item(
            in: ["organizations", config.organizationId, "users"], id: Fixtures.selfUserId)
        return .json(200, .object(stored ?? Fixtures.selfUser(timestamp: call.context.timestamp)))
    }

    mutating func deploymentLogs(_ call: Call) -> SimulatorResponse {
        let known: Set = ["apiserver", "dag-processor", "scheduler", "triggerer", "webserver", "worker"]
        let sources = call.query.values("sources")
        if let unknown = sources.first(where: { !known.contains($0) }) {
            return call.invalid(ValidationFailure("sources", "oneof", "unknown log source \(unknown)").fieldErrors)
        }
        let paging: Paging
        do { paging = try Paging(query: call.query, maximumLimit: nil) } catch {
            return call.invalid(error.fieldErrors)
        }
        var lines: [JSONValue] = []
        for source in sources {
            for index in 0..<5 {
                let raw = "[simulator] \(source) log line \(index + 1)"
                if let search = call.query.first("searchText"), !search.isEmpty, !raw.contains(search) { continue }
                lines.append(
                    .object([
                        "raw": .string(raw), "source": .string(source),
                        "timestamp": .double((call.context.wallSeconds - Double(5 - index)).rounded()),
                    ]))
            }
        }
        let maxResults = call.query.first("maxNumResults").flatMap { Int64($0) } ?? 100
        return .json(
            200,
            .object([
                "results": .array(paging.slice(lines)),
                "resultCount": .integer(Int64(lines.count)),
                "limit": .integer(Int64(paging.limit)),
                "offset": .integer(Int64(paging.offset)),
                "maxNumResults": .integer(maxResults),
                "searchId": .string(call.query.first("searchId") ?? ids.cuid()),
            ]))
    }

    /// NDJSON of the write requests the simulator processed, gzip-encoded as Astro sends it.
    func auditLogs(_ call: Call) -> SimulatorResponse {
        let organizationPrefix = "/v1/organizations/\(call.segments[1])"
        var text = ""
        let header: JSONObject = [
            "timestamp": .string(call.context.timestamp), "action": .string("SimulatorAuditLogExport"),
            "requestId": .string(call.requestId), "organizationId": .string(call.segments[1]),
        ]
        text += JSONValue.object(header).serialized + "\n"
        for event in auditEvents where event["target"]?.stringValue?.hasPrefix(organizationPrefix) ?? false {
            text += JSONValue.object(event).serialized + "\n"
        }
        return SimulatorResponse(
            status: 200,
            headers: [
                (name: "Content-Type", value: "application/x-ndjson"), (name: "Content-Encoding", value: "gzip"),
            ],
            body: Gzip.encode(Array(text.utf8)))
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Sets (or with nil removes) a value inside nested objects, creating the objects on the way.
    mutating func setNested(_ path: [String], to value: JSONValue?) {
        guard let first = path.first else { return }
        if path.count == 1 {
            self[first] = value
            return
        }
        var child = self[first]?.objectValue ?? [:]
        child.setNested(Array(path.dropFirst()), to: value)
        self[first] = .object(child)
    }
}

extension Error {
    fileprivate var fieldErrors: [FieldError] {
        (self as? ValidationFailure)?.fieldErrors ?? [FieldError(field: "query", code: "invalid", message: "\(self)")]
    }
}
