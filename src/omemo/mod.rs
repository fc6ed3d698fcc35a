//! OMEMO protocol core (pure). See ARCHITECTURE.md "OMEMO".
