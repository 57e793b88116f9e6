import CapstanCore
import CapstanKube
import Foundation

/// Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which is how
/// `kubectl get` shows a CRD's additionalPrinterColumns.
enum Tables {
    static func table(_ resource: ServedResource, objects: [JSONValue], resourceVersion: String, continueToken: String?, now: Date = Date()) -> JSONValue {
        var columns: [JSONValue] = [column("Name", "string", "name", "Name must be unique within a namespace.", 0)]
        var cells: [(JSONValue) -> JSONValue] = [{ .string($0.name ?? "") }]
        if !resource.printerColumns.isEmpty {
            for printer in resource.printerColumns {
                columns.append(column(printer.name, printer.type, printer.format, printer.description, printer.priority))
                cells.append { object in cell(object, printer, now: now) }
            }
        } else {
            for (name, type, path) in builtinColumns(resource.groupResource) {
                columns.append(column(name, type, "", name, 0))
                cells.append { object in path(object) }
            }
            columns.append(column("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0))
            cells.append { object in age(object.metadata?["creationTimestamp"]?.stringValue, now: now) }
        }
        let rows: [JSONValue] = objects.map { object in
            var metadata = object.metadata ?? .emptyObject
            metadata["managedFields"] = nil
            return [
                "cells": .array(cells.map { $0(object) }),
                "object": ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata],
            ]
        }
        var listMetadata: JSONValue = ["resourceVersion": .string(resourceVersion)]
        if let continueToken { listMetadata["continue"] = .string(continueToken) }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listMetadata, "columnDefinitions": .array(columns), "rows": .array(rows)]
    }

    private static func column(_ name: String, _ type: String, _ format: String, _ description: String, _ priority: Int64) -> JSONValue {
        ["name": .string(name), "type": .string(type), "format": .string(format), "description": .string(description), "priority": .int(priority)]
    }

    private static func cell(_ object: JSONValue, _ column: PrinterColumn, now: Date) -> JSONValue {
        let values = JSONPathLite.evaluate(column.jsonPath, on: object)
        guard let value = values.first else { return .null }
        if column.type == "date" { return age(value.stringValue, now: now) }
        if values.count > 1 { return .string(values.map(display).joined(separator: ",")) }
        switch (column.type, value) {
        case ("integer", .int), ("number", .int), ("number", .double), ("boolean", .bool): return value
        default: return .string(display(value))
        }
    }

    private static func display(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return text
        case .null: return "<none>"
        default: return value.serialized()
        }
    }

    private static func builtinColumns(_ group: GroupResource) -> [(String, String, (JSONValue) -> JSONValue)] {
        switch (group.group, group.plural) {
        case ("apps", "deployments"):
            return [
                ("Ready", "string", { object in
                    let ready = object[path: ["status", "readyReplicas"]]?.intValue ?? 0
                    let wanted = object[path: ["spec", "replicas"]]?.intValue ?? 1
                    return .string("\(ready)/\(wanted)")
                }),
                ("Up-to-date", "integer", { .int($0[path: ["status", "updatedReplicas"]]?.intValue ?? 0) }),
                ("Available", "integer", { .int($0[path: ["status", "availableReplicas"]]?.intValue ?? 0) }),
            ]
        case ("", "configmaps"), ("", "secrets"):
            return [("Data", "integer", { .int(Int64($0["data"]?.objectValue?.count ?? 0) + Int64($0["binaryData"]?.objectValue?.count ?? 0)) })]
        case ("", "services"):
            return [
                ("Type", "string", { .string($0[path: ["spec", "type"]]?.stringValue ?? "ClusterIP") }),
                ("Ports", "string", { object in
                    let ports = object[path: ["spec", "ports"]]?.arrayValue ?? []
                    let text = ports.map { "\($0["port"]?.intValue ?? 0)/\($0["protocol"]?.stringValue ?? "TCP")" }.joined(separator: ",")
                    return .string(text.isEmpty ? "<none>" : text)
                }),
            ]
        case ("", "events"):
            return [
                ("Type", "string", { .string($0["type"]?.stringValue ?? "") }),
                ("Reason", "string", { .string($0["reason"]?.stringValue ?? "") }),
                ("Object", "string", { object in
                    .string("\((object[path: ["involvedObject", "kind"]]?.stringValue ?? "").lowercased())/\(object[path: ["involvedObject", "name"]]?.stringValue ?? "")")
                }),
                ("Message", "string", { .string($0["message"]?.stringValue ?? "") }),
            ]
        default:
            return []
        }
    }

    /// Kubernetes' short age format: 45s, 3m12s, 5h, 2d.
    static func age(_ timestamp: String?, now: Date) -> JSONValue {
        guard let timestamp, let date = KubeTime.parse(timestamp) else { return "<unknown>" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        if seconds < 120 { return .string("\(seconds)s") }
        let minutes = seconds / 60
        if minutes < 10 { return .string(seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s") }
        if minutes < 180 { return .string("\(minutes)m") }
        let hours = minutes / 60
        if hours < 48 { return .string("\(hours)h") }
        return .string("\(hours / 24)d")
    }
}

/// The JSONPath subset printer columns use: `.a.b`, `.a[0]`, `.a[*].b`, and filters
/// `.a[?(@.type=="Ready")].status`.
enum JSONPathLite {
    static func evaluate(_ expression: String, on object: JSONValue) -> [JSONValue] {
        var text = Substring(expression.trimmingCharacters(in: .whitespaces))
        if text.hasPrefix("{"), text.hasSuffix("}") { text = text.dropFirst().dropLast() }
        if text.hasPrefix("$") { text = text.dropFirst() }
        var current: [JSONValue] = [object]
        while !text.isEmpty {
            if text.hasPrefix(".") {
                text = text.dropFirst()
                let end = text.firstIndex { $0 == "." || $0 == "[" } ?? text.endIndex
                let key = String(text[..<end])
                text = text[end...]
                if key.isEmpty { continue }
                current = current.compactMap { $0[key] }
            } else if text.hasPrefix("[") {
                guard let close = matchingBracket(text) else { return [] }
                let inner = text[text.index(after: text.startIndex)..<close]
                text = text[text.index(after: close)...]
                current = current.flatMap { value -> [JSONValue] in
                    let elements = value.arrayValue ?? []
                    if inner == "*" { return elements }
                    if let index = Int(inner) { return index >= 0 && index < elements.count ? [elements[index]] : [] }
                    if inner.hasPrefix("?(@."), inner.hasSuffix(")") {
                        let condition = inner.dropFirst(4).dropLast()
                        let parts = condition.components(separatedBy: "==")
                        guard parts.count == 2 else { return [] }
                        let path = parts[0].trimmingCharacters(in: .whitespaces).split(separator: ".").map(String.init)
                        let expected = parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                        return elements.filter { element in
                            switch element[path: path] {
                            case .string(let value): return value == expected
                            case .int(let value): return String(value) == expected
                            case .bool(let value): return String(value) == expected
                            default: return false
                            }
                        }
                    }
                    let key = inner.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
                    return value[key].map { [$0] } ?? []
                }
            } else {
                return []
            }
        }
        return current
    }

    private static func matchingBracket(_ text: Substring) -> Substring.Index? {
        var depth = 0
        for index in text.indices {
            if text[index] == "[" { depth += 1 }
            if text[index] == "]" {
                depth -= 1
                if depth == 0 { return index }
            }
        }
        return nil
    }
}
