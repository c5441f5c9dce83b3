fn main() {
    afl::fuzz!(|data: &[u8]| estafeta_fuzzing::managesieve_command(data));
}
