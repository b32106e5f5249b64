//! Supported boot chains and the PCR4, PCR5, PCR9 and PCR11 events they produce.
//!
//! The firmware boots the removable-media path `\EFI\BOOT\BOOTX64.EFI` of the ESP:
//! - **UKI** (a PE with a `.linux` section, booted by systemd-stub): PCR4 = UKI, then its
//!   `.linux` section (loaded through LoadImage); PCR11 = two extends per measured section
//!   (name incl. NUL, then contents); PCR9 = the kernel EFI stub's LoadOptions (UTF-16LE
//!   `.cmdline` incl. NUL) and initrd (`.initrd`) tagged events.
//! - **shim + GRUB** (a PE with a `.vendor_cert` section, loading `grubx64.efi` from the same
//!   directory) and **GRUB alone** (a PE with a `mods` section): PCR4 = shim (if any), GRUB;
//!   PCR9 = `grub.cfg` (next to GRUB), the kernel and initrd files it names, then the kernel
//!   stub's LoadOptions (UTF-16LE `BOOT_IMAGE=<path> <args>`, no NUL) and initrd events.
//!   `grub.cfg` must be self-contained: only `set`, `search`, `insmod` (of built-in modules),
//!   `timeout`, `default`, `echo`, `menuentry`, `linux`/`linuxefi` and `initrd`/`initrdefi`;
//!   the kernel and initrd must be on the ESP.
//!
//! PCR5 is the same for every chain: separator, GPT event, the two ExitBootServices actions.

use super::disk::{Disk, ReadAt};
use super::esp::Esp;
use super::events::{sha256, types, Event};
use super::gpt::Gpt;
use super::pe::{self, PeImage};
use super::Error;

/// The default boot path on x86-64.
pub const DEFAULT_BOOT: &str = "EFI/BOOT/BOOTX64.EFI";
/// Sections measured by systemd-stub into PCR11, in order.
pub const UKI_SECTIONS: [&str; 10] = [
    ".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".uname", ".sbat",
    ".pcrpkey",
];
/// Sections of newer (multi-profile) UKIs that this version does not predict.
const UKI_UNSUPPORTED: [&str; 4] = [".profile", ".dtbauto", ".hwids", ".efifw"];
/// Linux EFI stub tagged-event ids.
const TAG_LOAD_OPTIONS: u32 = 0x8F3B_22ED;
const TAG_INITRD: u32 = 0x8F3B_22EC;

/// Which boot chain was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chain {
    /// Unified kernel image booted directly.
    Uki,
    /// shim then GRUB.
    ShimGrub,
    /// GRUB booted directly.
    Grub,
}

/// Predicted firmware/boot-loader events.
#[derive(Clone, Debug)]
pub struct BootPrediction {
    /// The chain found on the ESP.
    pub chain: Chain,
    /// PCR4 events.
    pub pcr4: Vec<Event>,
    /// PCR5 events.
    pub pcr5: Vec<Event>,
    /// PCR9 events.
    pub pcr9: Vec<Event>,
    /// PCR11 events (UKI only; empty otherwise).
    pub pcr11: Vec<Event>,
}

fn app(path: &str, what: &str, img: &PeImage) -> Event {
    Event::new(
        types::EV_EFI_BOOT_SERVICES_APPLICATION,
        format!("{path} ({what})"),
        img.authenticode_sha256,
    )
}

fn utf16le(s: &str, nul: bool) -> Vec<u8> {
    let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    if nul {
        v.extend_from_slice(&[0, 0]);
    }
    v
}

fn tag(id: u32, what: &str, digest: [u8; 32]) -> Event {
    Event::new(types::EV_EVENT_TAG, format!("{id:#010x} {what}"), digest)
}

/// Predicts the boot events of a disk image file.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, and as `predict`.
pub fn predict_disk(path: &std::path::Path) -> Result<BootPrediction, Error> {
    let disk = Disk::open(path)?;
    predict(&disk)
}

/// Predicts the boot events of a disk (raw bytes view).
///
/// # Errors
///
/// [`Error::Gpt`] or [`Error::Esp`] when the disk's partition table or ESP does not parse,
/// [`Error::Pe`] for a malformed boot binary, [`Error::BootChain`] when the boot chain is not one
/// this crate predicts.
pub fn predict<D: ReadAt + ?Sized>(disk: &D) -> Result<BootPrediction, Error> {
    let gpt = Gpt::read(disk)?;
    let pcr5 = vec![
        Event::separator(),
        gpt.event(),
        Event::efi_action("Exit Boot Services Invocation"),
        Event::efi_action("Exit Boot Services Returned with Success"),
    ];
    let esp = Esp::open(disk, &gpt)?;
    let first = esp
        .read(DEFAULT_BOOT)?
        .ok_or_else(|| Error::BootChain(format!("{DEFAULT_BOOT} not found on the ESP")))?;
    let img = pe::parse(DEFAULT_BOOT, &first)?;
    let mut pcr4 = vec![
        Event::efi_action("Calling EFI Application from Boot Option"),
        Event::separator(),
    ];
    let gpt_dev = format!("(hd0,gpt{})", esp.entry.number);
    if img.section(".linux").is_some() {
        if let Some(s) = UKI_UNSUPPORTED.iter().find(|s| img.section(s).is_some()) {
            return Err(Error::BootChain(format!(
                "UKI has a {s} section (multi-profile UKI): not supported"
            )));
        }
        pcr4.push(app(DEFAULT_BOOT, "UKI", &img));
        let linux = img
            .section(".linux")
            .map(|s| s.data.clone())
            .unwrap_or_default();
        let kernel = pe::parse("UKI .linux", &linux)?;
        pcr4.push(app(DEFAULT_BOOT, ".linux section", &kernel));
        let mut pcr11 = Vec::new();
        for name in UKI_SECTIONS {
            if let Some(s) = img.section(name) {
                let mut n = name.as_bytes().to_vec();
                n.push(0);
                pcr11.push(Event::new(
                    types::EV_IPL,
                    format!("{name} (name)"),
                    sha256(&n),
                ));
                pcr11.push(Event::new(
                    types::EV_IPL,
                    format!("{name} (contents)"),
                    sha256(&s.data),
                ));
            }
        }
        let mut pcr9 = Vec::new();
        if let Some(c) = img.section(".cmdline") {
            let text =
                String::from_utf8_lossy(c.data.split(|b| *b == 0).next().unwrap_or_default())
                    .into_owned();
            pcr9.push(tag(
                TAG_LOAD_OPTIONS,
                "LOADED_IMAGE::LoadOptions",
                sha256(&utf16le(&text, true)),
            ));
        }
        if let Some(i) = img.section(".initrd") {
            pcr9.push(tag(TAG_INITRD, "Linux initrd", sha256(&i.data)));
        }
        return Ok(BootPrediction {
            chain: Chain::Uki,
            pcr4,
            pcr5,
            pcr9,
            pcr11,
        });
    }
    if img.section(".sdmagic").is_some() {
        return Err(Error::BootChain(
            "systemd-boot is not supported (boot a UKI directly)".into(),
        ));
    }
    let (chain, grub_path, grub) =
        if img.section(".vendor_cert").is_some() || img.section(".vendor_").is_some() {
            pcr4.push(app(DEFAULT_BOOT, "shim", &img));
            let gp = "EFI/BOOT/grubx64.efi";
            let g = esp.read(gp)?.ok_or_else(|| {
                Error::BootChain(format!(
                    "shim found but {gp} is missing (fallback/MokManager boots are not supported)"
                ))
            })?;
            let gi = pe::parse(gp, &g)?;
            if gi.section("mods").is_none() {
                return Err(Error::BootChain(format!(
                    "{gp} is not a GRUB image (no mods section)"
                )));
            }
            pcr4.push(app(gp, "GRUB", &gi));
            (Chain::ShimGrub, gp, gi)
        } else if img.section("mods").is_some() {
            pcr4.push(app(DEFAULT_BOOT, "GRUB", &img));
            (Chain::Grub, DEFAULT_BOOT, img)
        } else {
            return Err(Error::BootChain(format!(
                "{DEFAULT_BOOT} is neither a UKI (.linux), shim (.vendor_cert) nor GRUB (mods)"
            )));
        };
    drop(grub);
    let dir = grub_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let cfg_path = format!("{dir}/grub.cfg");
    let cfg = esp
        .read(&cfg_path)?
        .ok_or_else(|| Error::BootChain(format!("{cfg_path} not found next to GRUB")))?;
    let entry = parse_grub_cfg(&cfg)?;
    let mut pcr9 = vec![Event::new(
        types::EV_IPL,
        format!("{gpt_dev}/{cfg_path}"),
        sha256(&cfg),
    )];
    let kernel = esp
        .read(&entry.linux)?
        .ok_or_else(|| Error::BootChain(format!("kernel {} not found on the ESP", entry.linux)))?;
    pcr9.push(Event::new(
        types::EV_IPL,
        format!("{gpt_dev}{}", entry.linux),
        sha256(&kernel),
    ));
    drop(kernel);
    let mut initrd_all = sha2::Sha256::default();
    for i in &entry.initrd {
        use sha2::Digest;
        let data = esp
            .read(i)?
            .ok_or_else(|| Error::BootChain(format!("initrd {i} not found on the ESP")))?;
        pcr9.push(Event::new(
            types::EV_IPL,
            format!("{gpt_dev}{i}"),
            sha256(&data),
        ));
        initrd_all.update(&data);
    }
    let mut opts = format!("BOOT_IMAGE={}", entry.linux);
    for a in &entry.args {
        opts.push(' ');
        opts.push_str(a);
    }
    pcr9.push(tag(
        TAG_LOAD_OPTIONS,
        "LOADED_IMAGE::LoadOptions",
        sha256(&utf16le(&opts, false)),
    ));
    if !entry.initrd.is_empty() {
        use sha2::Digest;
        pcr9.push(tag(
            TAG_INITRD,
            "Linux initrd",
            initrd_all.finalize().into(),
        ));
    }
    Ok(BootPrediction {
        chain,
        pcr4,
        pcr5,
        pcr9,
        pcr11: Vec::new(),
    })
}

/// The boot entry GRUB will run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrubEntry {
    /// Kernel path on the ESP ("/vmlinuz").
    pub linux: String,
    /// Kernel arguments.
    pub args: Vec<String>,
    /// Initrd paths.
    pub initrd: Vec<String>,
}

/// Parses the supported `grub.cfg` subset; returns the first `linux` command's entry.
///
/// # Errors
///
/// [`Error::BootChain`] for a construct outside the subset or no `linux` command.
pub fn parse_grub_cfg(cfg: &[u8]) -> Result<GrubEntry, Error> {
    let text =
        std::str::from_utf8(cfg).map_err(|_| Error::BootChain("grub.cfg is not UTF-8".into()))?;
    let mut linux: Option<(String, Vec<String>)> = None;
    let mut initrd: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line == "}" {
            continue;
        }
        if line.contains(['$', '`', ';', '"', '\'', '\\']) {
            return Err(Error::BootChain(format!(
                "grub.cfg line {}: quoting, variables and ';' are not supported",
                n + 1
            )));
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((cmd, rest)) = words.split_first() else {
            continue;
        };
        match *cmd {
            "set" | "search" | "search.fs_uuid" | "search.fs_label" | "insmod" | "timeout"
            | "default" | "echo" => {}
            "menuentry" => {
                if linux.is_some() {
                    break;
                }
            }
            "linux" | "linuxefi" if linux.is_none() => {
                let (path, args) = rest.split_first().ok_or_else(|| {
                    Error::BootChain(format!("grub.cfg line {}: linux without a path", n + 1))
                })?;
                linux = Some((
                    esp_path(path, n)?,
                    args.iter().map(|s| s.to_string()).collect(),
                ));
            }
            "initrd" | "initrdefi" if initrd.is_empty() => {
                if rest.is_empty() {
                    return Err(Error::BootChain(format!(
                        "grub.cfg line {}: initrd without a path",
                        n + 1
                    )));
                }
                initrd = rest
                    .iter()
                    .map(|p| esp_path(p, n))
                    .collect::<Result<_, _>>()?;
            }
            "linux" | "linuxefi" | "initrd" | "initrdefi" => {}
            other => {
                return Err(Error::BootChain(format!(
                    "grub.cfg line {}: command {other:?} is not supported",
                    n + 1
                )));
            }
        }
    }
    let (linux, args) =
        linux.ok_or_else(|| Error::BootChain("grub.cfg has no linux command".into()))?;
    Ok(GrubEntry {
        linux,
        args,
        initrd,
    })
}

fn esp_path(p: &str, n: usize) -> Result<String, Error> {
    if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
        return Err(Error::BootChain(format!(
            "grub.cfg line {}: path {p:?} must be absolute on the ESP (no device prefix)",
            n + 1
        )));
    }
    Ok(p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg_subset() {
        let e = parse_grub_cfg(b"set timeout=0\nmenuentry Linux {\n  linux /vmlinuz console=ttyS0 ro\n  initrd /initrd.img\n}\nmenuentry Other {\n linux /other\n}\n").unwrap();
        assert_eq!(e.linux, "/vmlinuz");
        assert_eq!(e.args, vec!["console=ttyS0", "ro"]);
        assert_eq!(e.initrd, vec!["/initrd.img"]);
        assert!(parse_grub_cfg(b"configfile /x.cfg\nlinux /v\n").is_err());
        assert!(parse_grub_cfg(b"linux (hd0,gpt2)/v\n").is_err());
        assert!(parse_grub_cfg(b"linux /v root=$x\n").is_err());
        assert!(parse_grub_cfg(b"set a=b\n").is_err());
    }
}
