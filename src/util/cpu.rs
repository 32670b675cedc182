//! The CPU a process runs on, named beside every time it records: this engine's speed depends
//! on the CPU's widest SIMD as much as on its model (machines here change between AVX-512 and
//! AVX2), so a timing without it cannot be compared.

/// The CPU's brand string and the widest SIMD it offers of those the engine uses, e.g.
/// `Intel(R) Xeon(R) Processor (AVX-512)`; the architecture's name where neither is known.
pub fn cpu_description() -> String {
    match brand() {
        Some(brand) => format!("{brand} ({})", widest_simd()),
        None => format!("{} ({})", std::env::consts::ARCH, widest_simd()),
    }
}

#[cfg(target_arch = "x86_64")]
fn brand() -> Option<String> {
    let brand = raw_cpuid::CpuId::new().get_processor_brand_string()?;
    let brand = brand.as_str().trim();
    (!brand.is_empty()).then(|| brand.to_string())
}

#[cfg(not(target_arch = "x86_64"))]
fn brand() -> Option<String> {
    None
}

#[cfg(target_arch = "x86_64")]
fn widest_simd() -> &'static str {
    if is_x86_feature_detected!("avx512f") {
        "AVX-512"
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        "AVX2"
    } else {
        "SSE"
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn widest_simd() -> &'static str {
    "no x86 SIMD"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The description names the SIMD level in parentheses after a non-empty name.
    #[test]
    fn names_the_cpu_and_its_simd() {
        let d = cpu_description();
        let (name, simd) = d.rsplit_once(" (").expect("a parenthesized SIMD level");
        assert!(!name.trim().is_empty(), "{d}");
        assert!(
            ["AVX-512)", "AVX2)", "SSE)", "no x86 SIMD)"].contains(&simd),
            "{d}"
        );
    }
}
