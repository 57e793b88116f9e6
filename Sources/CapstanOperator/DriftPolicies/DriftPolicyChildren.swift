import CapstanAPI
import CapstanCore
import CapstanDriftMonitor
import CapstanKube
import CapstanKubeRuntime

extension DriftPolicyDesign {
    public static func configMapName(_ policy: String) -> String { "\(policy)-driftpolicy" }
    public static func cronJobName(_ policy: String) -> String { "\(policy)-drift" }
    /// Where the run's pod finds the resolved policy.
    public static let policyPath = "/etc/capstan/drift/policy.json"

    /// The resolved policy as the monitor reads it (``DriftPolicyValidation/policyDocument(_:namespace:resolved:)``).
    public static func policyDocument(_ policy: DriftPolicy, namespace: String, resolved: Resolved) throws -> String {
        try DriftPolicyValidation.policyDocument(policy, namespace: namespace, resolved: resolved)
    }

    /// The ConfigMap with the resolved policy, and, when the policy has a schedule, the CronJob
    /// that runs `capstan-drift run` on it. No schedule: on demand only, and no CronJob.
    public static func children(
        of policy: DriftPolicy, namespace: String, resolved: Resolved, owner: OwnerIdentity, configuration: OperatorConfiguration
    ) throws -> [DesiredChild] {
        let name = policy.metadata.name
        let labels = K8s.labels(component: "capstan-drift", instance: name, extra: [("ml.capstan.dev/driftpolicy", name)])
        let document = try policyDocument(policy, namespace: namespace, resolved: resolved)
        var children = [K8s.configMap(name: configMapName(name), owner: owner, labels: labels, data: [("policy.json", document)])]
        guard let schedule = policy.spec.schedule else { return children }
        let container: JSONValue = [
            "name": "drift",
            "image": .string(configuration.driftImage),
            "imagePullPolicy": .string(configuration.imagePullPolicy),
            "args": ["run", "--policy-file", .string(policyPath)],
            "env": .array(
                [
                    K8s.secretEnv("CAPSTAN_POSTGRES_URL", configuration.postgresSecret),
                    K8s.secretEnv("CAPSTAN_REDIS_URL", configuration.redisSecret),
                ] + webhookSecretEnv(policy.spec.alerts?.webhooks ?? [])),
            "resources": ["requests": ["cpu": "250m", "memory": "256Mi"], "limits": ["memory": "2Gi"]],
            "securityContext": K8s.containerSecurity,
            "volumeMounts": [["name": "policy", "mountPath": "/etc/capstan/drift", "readOnly": true]],
        ]
        let podSpec: JSONValue = [
            "restartPolicy": "Never",
            "serviceAccountName": .string(configuration.driftServiceAccount),
            "securityContext": K8s.podSecurity,
            "containers": [container],
            "volumes": [["name": "policy", "configMap": ["name": .string(configMapName(name))]]],
        ]
        var cronSpec: [(String, JSONValue)] = [("schedule", .string(schedule.cron))]
        if let zone = schedule.timeZone { cronSpec.append(("timeZone", .string(zone))) }
        cronSpec += [
            ("suspend", .bool(schedule.suspend ?? false)),
            // A run still going when the next is due is not doubled: runs of one policy write
            // the same windows' results.
            ("concurrencyPolicy", "Forbid"),
            // A run missed by more than this (an operator or controller outage) is skipped, not
            // replayed in a burst; the next one covers the newest window.
            ("startingDeadlineSeconds", 600),
            ("successfulJobsHistoryLimit", 3),
            ("failedJobsHistoryLimit", 3),
        ]
        children.append(K8s.cronJob(name: cronJobName(name), owner: owner, labels: labels, spec: cronSpec, podSpec: podSpec))
        return children
    }

    /// Each signed webhook's key as an environment variable from its Secret: the run's pod gets
    /// exactly those keys, and its ServiceAccount needs no right to read Secrets at all.
    static func webhookSecretEnv(_ webhooks: [DriftWebhook]) -> [JSONValue] {
        webhooks.enumerated().compactMap { index, webhook in
            webhook.secretName.map {
                K8s.secretEnv(DriftWebhook.secretVariable(index), OperatorConfiguration.SecretKey(name: $0, key: webhook.secretKey ?? "secret"))
            }
        }
    }

    /// The status the operator writes: observedGeneration and the conditions. `lastRun` and
    /// `worst` belong to the runs (field manager `capstan-drift`) and are only read here.
    ///
    /// - Ready: the policy is valid and scheduled (`Scheduled`, `Suspended`, `OnDemand`), or why
    ///   not (`InvalidSpec`, `TargetNotFound`).
    /// - Drifted: the last run found dataset drift (`DatasetDrift`, `NoDatasetDrift`), Unknown
    ///   before the first run (`NotRunYet`).
    /// - DataQualityDegraded: a rule was broken in the last run (`QualityRulesBroken`, `QualityOK`).
    /// - PerformanceDegraded, when the policy checks performance: `PerformanceDropped`,
    ///   `PerformanceOK`, or Unknown while no labels could be joined (`NoLabels`).
    public static func status(
        policy: DriftPolicy?, generation: Int64?, previous: DriftPolicyStatus?, resolved: Result<Resolved, SpecProblem>, now: String
    ) -> (status: DriftPolicyStatus, transitions: [Condition]) {
        var writer = ConditionWriter(previous: previous?.conditions, generation: generation, now: now)
        switch resolved {
        case .failure(let problem):
            writer.set(ConditionType.ready, false, problem.reason, problem.message)
        case .success(let plan):
            let scope = "\(plan.features.count) feature\(plan.features.count == 1 ? "" : "s") watched"
            if let schedule = policy?.spec.schedule {
                if schedule.suspend == true {
                    writer.set(ConditionType.ready, true, "Suspended", "Scheduled runs are suspended; on-demand runs still work. \(scope).")
                } else {
                    writer.set(ConditionType.ready, true, "Scheduled", "Runs on '\(schedule.cron)' (\(schedule.timeZone ?? "UTC")); \(scope).")
                }
            } else {
                writer.set(ConditionType.ready, true, "OnDemand", "No schedule: runs only on demand (capstan drift run). \(scope).")
            }
        }
        if let run = previous?.lastRun {
            let share = run.totalFeatures > 0 ? Double(run.driftedFeatures) / Double(run.totalFeatures) : 0
            let counted = "\(run.driftedFeatures) of \(run.totalFeatures) features drifted (share \(String(format: "%.2f", share))) in run \(run.id) at \(run.time)"
            if run.datasetDrift {
                writer.set(ConditionType.drifted, true, "DatasetDrift", counted + ".")
            } else {
                writer.set(ConditionType.drifted, false, "NoDatasetDrift", counted + ".")
            }
            if let problems = run.qualityProblems, problems > 0 {
                writer.set(ConditionType.dataQualityDegraded, true, "QualityRulesBroken", "\(problems) rule\(problems == 1 ? "" : "s") broken in run \(run.id): \(run.qualitySummary ?? "see the run's report").")
            } else {
                writer.set(ConditionType.dataQualityDegraded, false, "QualityOK", "Every data-quality rule held in run \(run.id).")
            }
            if policy?.spec.performance != nil {
                switch run.performanceDegraded {
                case true?: writer.set(ConditionType.performanceDegraded, true, "PerformanceDropped", run.performanceSummary ?? "A metric dropped past maxDrop.")
                case false?: writer.set(ConditionType.performanceDegraded, false, "PerformanceOK", run.performanceSummary ?? "Every metric within maxDrop.")
                case nil: writer.setUnknown(ConditionType.performanceDegraded, "NoLabels", run.performanceSummary ?? "No labelled predictions to score yet.")
                }
            }
        } else {
            writer.setUnknown(ConditionType.drifted, "NotRunYet", "No run has finished yet.")
        }
        if policy?.spec.performance == nil { writer.conditions.removeAll { $0.type == ConditionType.performanceDegraded } }
        return (DriftPolicyStatus(observedGeneration: generation, conditions: writer.conditions), writer.transitions)
    }
}
