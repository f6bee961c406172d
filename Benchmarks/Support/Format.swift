/// `value` with `digits` decimals, without Foundation; `n/a`, `inf` and
/// `-inf` for values that are not finite.
public func fixed(_ value: Double, _ digits: Int = 1) -> String {
    guard value.isFinite else { return value.isNaN ? "n/a" : (value > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    let sign = value < 0 && rounded != 0 ? "-" : ""
    let integer = Int(rounded / scale)
    guard digits > 0 else { return sign + String(integer) }
    let fraction = String(Int(rounded - Double(integer) * scale))
    return "\(sign)\(integer)." + String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
}

/// `value` rounded to `digits` decimals, for figures written as JSON numbers.
public func decimals(_ value: Double, _ digits: Int) -> Double {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return (value * scale).rounded() / scale
}

/// `text` right-aligned in `width` columns, or left-aligned with `left`.
public func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + padding : padding + text
}
