/*
  mlsleuth YARA rules for weaponised machine-learning model files.

  Scope: byte patterns a static scan can see without parsing the container: pickle opcode
  streams (plain pickles, pickles stored uncompressed inside PyTorch zips, joblib/npy object
  arrays written without compression), Keras Lambda layers whose marshalled bytecode sits in an
  HDF5 `model_config` attribute or a .keras `config.json`, and chat templates (GGUF metadata,
  tokenizer_config.json) that reach Python internals through Jinja attribute access.

  These rules are a sweep tool (osquery `yara` table, Velociraptor, `yara -r`). They do not
  replace `mlsleuth scan`, which follows memo references, decompresses zips and walks ASTs.
  Known blind spots: compressed containers (deflated zip members, zlib joblib), pickles whose
  module/name strings are fetched from the memo (BINGET) instead of pushed inline, Lambda
  bytecode split across base64 line breaks. docs/rules.md ("YARA and Semgrep rules") has the
  measured hit rate.

  No modules are imported: osquery's embedded libyara and plain `yara` both accept the file.

  Pickle encodings matched by every pickle rule:
    protocol 0/1   GLOBAL 'c' or INST 'i':   c<module>\n<name>\n
    protocol 2+    <str op><module>[memo]<str op><name>[memo] STACK_GLOBAL(0x93)
                   str op: SHORT_BINUNICODE 0x8c+len8, BINUNICODE 'X'+len32, BINUNICODE8 0x8d+len64
                   memo:   MEMOIZE 0x94, BINPUT 'q'+idx8, LONG_BINPUT 'r'+idx32
*/

rule MLSLEUTH_Pickle_OS_Exec
{
    meta:
        author = "mlsleuth"
        description = "Pickle imports an os/posix/nt process-execution function (os.system, os.popen, exec*/spawn*)"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $text = /[ci](os|posix|nt)\n(system|popen|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?|startfile|forkpty|fork)\n/
        $bin = /(\x8c.|X....|\x8d........)(os|posix|nt)(\x94|q.|r....)?(\x8c.|X....|\x8d........)(system|popen|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?|startfile|forkpty|fork)(\x94|q.|r....)?\x93/s
    condition:
        any of them
}

rule MLSLEUTH_Pickle_Subprocess
{
    meta:
        author = "mlsleuth"
        description = "Pickle imports a subprocess launcher (Popen, run, call, check_output, getoutput); protocols 0-2 spell subprocess as commands"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $text = /[ci](subprocess|commands)\n(Popen|run|call|check_call|check_output|getoutput|getstatusoutput)\n/
        $bin = /(\x8c.|X....|\x8d........)(subprocess|commands)(\x94|q.|r....)?(\x8c.|X....|\x8d........)(Popen|run|call|check_call|check_output|getoutput|getstatusoutput)(\x94|q.|r....)?\x93/s
    condition:
        any of them
}

rule MLSLEUTH_Pickle_Builtins_Exec
{
    meta:
        author = "mlsleuth"
        description = "Pickle imports builtins exec/eval/compile/__import__/open (arbitrary code or file access on load)"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $text = /[ci](builtins|__builtin__)\n(exec|eval|execfile|compile|__import__|open|breakpoint)\n/
        $bin = /(\x8c.|X....|\x8d........)(builtins|__builtin__)(\x94|q.|r....)?(\x8c.|X....|\x8d........)(exec|eval|execfile|compile|__import__|open|breakpoint)(\x94|q.|r....)?\x93/s
    condition:
        any of them
}

rule MLSLEUTH_Pickle_Runpy
{
    meta:
        author = "mlsleuth"
        description = "Pickle imports runpy (runs a module or code object on load)"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $text = /[ci]runpy\n(_run_code|_run_module_code|run_path|run_module)\n/
        $bin = /(\x8c.|X....|\x8d........)runpy(\x94|q.|r....)?(\x8c.|X....|\x8d........)(_run_code|_run_module_code|run_path|run_module)(\x94|q.|r....)?\x93/s
    condition:
        any of them
}

rule MLSLEUTH_Pickle_Shell_Spawn
{
    meta:
        author = "mlsleuth"
        description = "Pickle imports pty.spawn or pty.fork (interactive shell on a terminal)"
        severity = "malicious"
        attack = "T1059.004"
    strings:
        $text = /[ci]pty\n(spawn|fork)\n/
        $bin = /(\x8c.|X....|\x8d........)pty(\x94|q.|r....)?(\x8c.|X....|\x8d........)(spawn|fork)(\x94|q.|r....)?\x93/s
    condition:
        any of them
}

rule MLSLEUTH_Pickle_Network
{
    meta:
        author = "mlsleuth"
        description = "Pickle imports a networking module (socket, urllib, http.client, requests, webbrowser, ftplib, smtplib, telnetlib)"
        severity = "malicious"
        attack = "T1105"
    strings:
        $text = /[ci](socket|urllib\.request|urllib2|urllib|http\.client|httplib|requests|requests\.api|webbrowser|ftplib|smtplib|telnetlib)\n[A-Za-z_][A-Za-z0-9_.]{0,63}\n/
        $bin = /(\x8c.|X....|\x8d........)(socket|urllib\.request|urllib2|urllib|http\.client|httplib|requests|requests\.api|webbrowser|ftplib|smtplib|telnetlib)(\x94|q.|r....)?(\x8c.|X....|\x8d........)[A-Za-z_][A-Za-z0-9_.]{0,63}(\x94|q.|r....)?\x93/s
    condition:
        any of them
}

rule MLSLEUTH_Pickle_Code_Loader
{
    meta:
        author = "mlsleuth"
        description = "Pickle imports a code loader (importlib.import_module, marshal.loads, types.CodeType/FunctionType, ctypes, nested pickle.loads)"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $text = /[ci](importlib\nimport_module|marshal\nloads|types\n(CodeType|FunctionType)|ctypes\n[A-Za-z_][A-Za-z0-9_.]{0,63}|(pickle|_pickle|cPickle|dill|joblib)\nloads?)\n/
        $bin = /(\x8c.|X....|\x8d........)(importlib(\x94|q.|r....)?(\x8c.|X....|\x8d........)import_module|marshal(\x94|q.|r....)?(\x8c.|X....|\x8d........)loads|types(\x94|q.|r....)?(\x8c.|X....|\x8d........)(CodeType|FunctionType)|ctypes(\x94|q.|r....)?(\x8c.|X....|\x8d........)[A-Za-z_][A-Za-z0-9_.]{0,63}|(pickle|_pickle|dill|joblib)(\x94|q.|r....)?(\x8c.|X....|\x8d........)loads?)(\x94|q.|r....)?\x93/s
    condition:
        any of them
}

rule MLSLEUTH_Pickle_Indirect_Exec
{
    meta:
        author = "mlsleuth"
        description = "Pickle imports a callable that runs code or fetches it indirectly (pdb/cProfile/profile/timeit run, numpy.testing runstring, asyncio subprocesses, torch.hub.load, pip main, pandas read_* on a URL)"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $text = /[ci]((pdb|cProfile|profile)\n(run|runctx|runeval|runcall)|timeit\n(timeit|repeat)|numpy\.testing(\._private\.utils)?\nrunstring|asyncio(\.subprocess)?\n(create_subprocess_shell|create_subprocess_exec)|torch\.hub\n(load|load_state_dict_from_url|download_url_to_file)|pip(\._internal(\.cli\.main)?)?\nmain|pandas(\.io\.\w+)?\nread_\w+)\n/
        $bin = /(\x8c.|X....|\x8d........)((pdb|cProfile|profile)(\x94|q.|r....)?(\x8c.|X....|\x8d........)(run|runctx|runeval|runcall)|timeit(\x94|q.|r....)?(\x8c.|X....|\x8d........)(timeit|repeat)|numpy\.testing(\._private\.utils)?(\x94|q.|r....)?(\x8c.|X....|\x8d........)runstring|asyncio(\.subprocess)?(\x94|q.|r....)?(\x8c.|X....|\x8d........)(create_subprocess_shell|create_subprocess_exec)|torch\.hub(\x94|q.|r....)?(\x8c.|X....|\x8d........)(load|load_state_dict_from_url|download_url_to_file)|pip(\._internal(\.cli\.main)?)?(\x94|q.|r....)?(\x8c.|X....|\x8d........)main|pandas(\.io\.\w+)?(\x94|q.|r....)?(\x8c.|X....|\x8d........)read_\w+)(\x94|q.|r....)?\x93/s
    condition:
        any of them
}

rule MLSLEUTH_Keras_Lambda_Bytecode
{
    meta:
        author = "mlsleuth"
        description = "Keras Lambda layer with marshalled Python bytecode (runs when the model is loaded with safe_mode off or by Keras 2)"
        severity = "suspicious"
        attack = "T1059.006"
    strings:
        $lambda = /"class_name":\s?"Lambda"/
        // Keras 2 (HDF5 model_config): "function": ["<base64 marshal>", defaults, closure]
        $code_k2 = /"function":\s?\["[4Y]w[A-Za-z0-9+\/]{14}/
        // Keras 3 (.keras config.json): {"class_name": "__lambda__", "config": {"code": "<base64 marshal>"}}
        $code_k3 = /"code":\s?"[4Y]w[A-Za-z0-9+\/]{14}/
        $k3 = /"class_name":\s?"__lambda__"/
    condition:
        $lambda and ($code_k2 or $code_k3 or $k3)
}

rule MLSLEUTH_Keras_Lambda_Exec
{
    meta:
        author = "mlsleuth"
        description = "Keras Lambda bytecode naming os/subprocess/exec/eval/__import__/socket (names read through base64)"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $lambda = /"class_name":\s?"Lambda"/
        $code_k2 = /"function":\s?\["[4Y]w[A-Za-z0-9+\/]{14}/
        $code_k3 = /"code":\s?"[4Y]w[A-Za-z0-9+\/]{14}/
        $n1 = "system" base64
        $n2 = "subprocess" base64
        $n3 = "__import__" base64
        $n4 = "popen" base64
        $n5 = "socket" base64
        $n6 = "__builtins__" base64
        $n7 = "check_output" base64
    condition:
        $lambda and ($code_k2 or $code_k3) and any of ($n*)
}

rule MLSLEUTH_Keras_Unsafe_Config
{
    meta:
        author = "mlsleuth"
        description = "Keras config that resolves a layer to os/subprocess/builtins, wraps foreign code (TFSMLayer, TorchModuleWrapper) or calls keras load_model as a function gadget"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $keras = /"module":\s?"keras/
        $modref = /"module":\s?"(os|posix|nt|subprocess|builtins|__builtin__|runpy|pty|socket|importlib|shutil|webbrowser)",\s?"class_name"/
        $foreign = /"class_name":\s?"(TFSMLayer|TorchModuleWrapper)"/
        $gadget = /"module":\s?"keras\.(models|saving)",\s?"class_name":\s?"function",\s?"config":\s?"load_model"/
    condition:
        $keras and any of ($modref, $foreign, $gadget)
}

rule MLSLEUTH_GGUF_ChatTemplate_Injection
{
    meta:
        author = "mlsleuth"
        description = "GGUF chat template reaching Python internals (__globals__, __builtins__, __subclasses__, os) through Jinja attribute access"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $key = "tokenizer.chat_template"
        $d1 = "__globals__"
        $d2 = "__builtins__"
        $d3 = "__subclasses__"
        $d4 = "__import__"
        $d5 = "__mro__"
        $d6 = "__class__"
        $d7 = "__init__.__"
        $os1 = /\bos\.(system|popen)\b/
        $os2 = /\.popen\(/
        $os3 = /\[['"]os['"]\]/
    condition:
        uint32(0) == 0x46554747 and $key and any of ($d*, $os*)
}

rule MLSLEUTH_Tokenizer_ChatTemplate_Injection
{
    meta:
        author = "mlsleuth"
        description = "tokenizer_config.json chat_template reaching Python internals (__globals__, __builtins__, __subclasses__, os)"
        severity = "malicious"
        attack = "T1059.006"
    strings:
        $key = "\"chat_template\""
        $d1 = "__globals__"
        $d2 = "__builtins__"
        $d3 = "__subclasses__"
        $d4 = "__import__"
        $d5 = "__mro__"
        $d6 = "__class__"
        $os1 = /\bos\.(system|popen)\b/
        $os2 = /\.popen\(/
    condition:
        uint32(0) != 0x46554747 and $key and any of ($d*, $os*)
}
