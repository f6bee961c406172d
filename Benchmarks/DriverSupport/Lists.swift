import ArgumentParser

/// The items of `text` between separators, trimmed, empty ones dropped.
public func listItems(_ text: String, separator: Character = ",") -> [String] {
    text.split(separator: separator).compactMap { item in
        var item = item
        while item.first?.isWhitespace == true { item.removeFirst() }
        while item.last?.isWhitespace == true { item.removeLast() }
        return item.isEmpty ? nil : String(item)
    }
}

/// Comma-separated integers of at least 0 (`--ballast 0,64`).
public func integerList(_ text: String) throws -> [Int] {
    try listItems(text).map { item in
        guard let value = Int(item), value >= 0 else { throw ValidationError("not an integer >= 0: \(item)") }
        return value
    }
}
