fn main() {
    afl::fuzz!(|data: &[u8]| estafeta_fuzzing::jmap_email(data));
}
