fn main() {
    afl::fuzz!(|data: &[u8]| estafeta_fuzzing::pop3_command(data));
}
