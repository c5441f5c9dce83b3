fn main() {
    afl::fuzz!(|data: &[u8]| estafeta_fuzzing::smtp_command(data));
}
