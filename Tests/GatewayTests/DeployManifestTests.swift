import Foundation
import Gateway
import Testing
import Yams

/// The deploy/ artifacts cannot be run here (no Docker engine, no cluster), so they are checked
/// by parsing: kinds present, probes on the admin port, secrets only from the Secret.
@Suite struct DeployManifestTests {
    @Test func kubernetesManifestsParseAndAreWired() throws {
        let dir = Paths.root + "/deploy/kubernetes"
        var kinds: [String: [String: Any]] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasSuffix(".yaml") {
            let text = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            for document in try Yams.load_all(yaml: text) {
                let object = try #require(document as? [String: Any])
                kinds[try #require(object["kind"] as? String)] = object
            }
        }
        for kind in ["Deployment", "Secret", "ConfigMap", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"] {
            #expect(kinds[kind] != nil, "missing \(kind)")
        }
        let deployment = try #require(kinds["Deployment"])
        let spec = (((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((spec?["containers"] as? [[String: Any]])?.first)
        let readiness = (container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any]
        let liveness = (container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any]
        #expect(readiness?["path"] as? String == "/readyz" && readiness?["port"] as? String == "admin")
        #expect(liveness?["path"] as? String == "/healthz" && liveness?["port"] as? String == "admin")
        // The gateway config inside the ConfigMap is itself valid YAML with no inline secret.
        let configMap = try #require(kinds["ConfigMap"]?["data"] as? [String: String])
        let gatewayYAML = try #require(configMap["gateway.yaml"])
        let parsed = try Yams.load(yaml: gatewayYAML)
        #expect(parsed is [String: Any])
        #expect(!gatewayYAML.contains("value:") && !gatewayYAML.contains("secret:"))
        let secret = try #require(kinds["Secret"]?["stringData"] as? [String: String])
        let filled = secret.values.filter { !$0.isEmpty }
        #expect(filled.isEmpty)
    }

    @Test func replicasExampleSharesRedisAndItsConfigIsValid() throws {
        let text = try String(
            contentsOfFile: Paths.root + "/deploy/kubernetes/replicas-with-redis/gateway.yaml", encoding: .utf8)
        var objects: [String: [String: Any]] = [:]
        for document in try Yams.load_all(yaml: text) {
            let object = try #require(document as? [String: Any])
            let kind = try #require(object["kind"] as? String)
            let name = try #require((object["metadata"] as? [String: Any])?["name"] as? String)
            objects[kind + "/" + name] = object
        }
        let gateways = try #require(objects["StatefulSet/astro-gateway"])
        let replicas = try #require((gateways["spec"] as? [String: Any])?["replicas"] as? Int)
        #expect(replicas > 1)
        #expect(objects["Deployment/astro-gateway-redis"] != nil && objects["Service/astro-gateway-redis"] != nil)
        // The config in the ConfigMap passes the gateway's own validation, and its fallback
        // divides by at least the replica count.
        let data = try #require(objects["ConfigMap/astro-gateway-config"]?["data"] as? [String: String])
        let config = try GatewayConfig.parse(
            text: try #require(data["gateway.yaml"]), file: "/etc/astro-gateway/gateway.yaml")
        let cluster = try #require(config.cluster)
        #expect(cluster.endpoint.host == "astro-gateway-redis")
        #expect(cluster.expectedReplicas >= replicas)
        #expect(cluster.password == .environment("REDIS_PASSWORD"))
        let secret = try #require(objects["Secret/astro-gateway-secrets"]?["stringData"] as? [String: String])
        #expect(secret["REDIS_PASSWORD"] == "")
    }

    @Test func systemdUnitIsHardened() throws {
        let unit = try String(contentsOfFile: Paths.root + "/deploy/systemd/astro-gateway.service", encoding: .utf8)
        for setting in [
            "DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=astro-gateway",
            "ExecReload=/bin/kill -HUP $MAINPID", "ProtectHome=yes", "PrivateTmp=yes",
        ] {
            #expect(unit.contains(setting), "missing \(setting)")
        }
    }

    @Test func dockerfileBuildsWithTheMakeCommandAndRunsAsNonRoot() throws {
        let text = try String(contentsOfFile: Paths.root + "/deploy/Dockerfile", encoding: .utf8)
        #expect(text.contains("swift build -c release --product astro-gateway"))
        #expect(text.contains("astro-gateway_Policy.resources"))
        #expect(text.contains("USER 10001"))
        #expect(text.contains("libmicrohttpd12") && text.contains("libcurl4") && text.contains("libssl3"))
        #expect(text.contains("libhiredis0.14") && text.contains("libhiredis-dev"))
    }
}
