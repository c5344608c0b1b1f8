//! Named values of the library's enums: one name per value, shared by configuration files (serde)
//! and by the command line, with a one-line description. The command line builds its value
//! parsers from [`Choice::CHOICES`], so the library does not depend on the argument parser.

/// An enum whose values have fixed names.
pub trait Choice: Copy + PartialEq + 'static {
    /// Every value with its name and its description.
    const CHOICES: &'static [(&'static str, Self, &'static str)];

    /// The value called `name`, if there is one.
    fn from_name(name: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(_, v, _)| v)
    }

    /// The name of this value.
    fn choice_name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, v, _)| *v == self)
            .map_or("", |&(n, _, _)| n)
    }
}

/// Defines a fieldless enum whose variants carry their names (`Variant = "name"`): serde
/// serialises each variant under that name and [`Choice::CHOICES`] lists them with their doc
/// comments as descriptions.
#[macro_export]
#[doc(hidden)]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $doc:literal])+ $variant:ident = $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[doc = $doc])+ #[serde(rename = $label)] $variant, )+
        }

        impl $crate::choice::Choice for $name {
            const CHOICES: &'static [(&'static str, Self, &'static str)] =
                &[ $( ($label, $name::$variant, concat!($($doc),+)) ),+ ];
        }
    };
}

#[cfg(test)]
mod tests {
    use super::Choice;
    use crate::data::Center;
    use crate::dynamics::InitialOutputs;
    use crate::kernel::{KernelKind, KernelWhat};
    use crate::model::{Init, Loss, Readout};
    use crate::perturbation::{Norm, Source, TargetKind};

    /// Each value's listed name is the name serde writes and reads (configuration files and the
    /// command line agree), and names are unique.
    fn round_trips<T: Choice + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug>() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Wrap<T> {
            v: T,
        }
        for &(name, value, help) in T::CHOICES {
            let text = toml::to_string(&Wrap { v: value }).unwrap();
            assert_eq!(text.trim(), format!("v = {name:?}"), "{value:?}");
            let back: Wrap<T> = toml::from_str(&text).unwrap();
            assert_eq!(back.v, value);
            assert_eq!(T::from_name(name), Some(value));
            assert_eq!(value.choice_name(), name);
            assert!(!help.trim().is_empty(), "{name} has a description");
        }
        let mut names: Vec<_> = T::CHOICES.iter().map(|c| c.0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), T::CHOICES.len());
        assert_eq!(T::from_name("no-such-value"), None);
    }

    #[test]
    fn every_named_enum_round_trips_through_its_names() {
        round_trips::<Loss>();
        round_trips::<Readout>();
        round_trips::<Init>();
        round_trips::<KernelKind>();
        round_trips::<KernelWhat>();
        round_trips::<InitialOutputs>();
        round_trips::<Center>();
        round_trips::<Norm>();
        round_trips::<TargetKind>();
        round_trips::<Source>();
        assert_eq!(Center::from_name("per-feature"), Some(Center::PerFeature));
        assert_eq!(Norm::from_name("linf"), Some(Norm::Linf));
    }
}
