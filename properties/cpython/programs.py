"""The campaign's programs: the plain one-line format of simrun_diff_programs
(properties/diff/diff_programs.cpp), parsed and printed back."""


class Program:
    def __init__(self, line):
        self.workers = 2
        self.ext = None
        self.sigints = []
        self.costs = [1000]
        self.choices = ""
        self.tasks = []  # [on_cancel, cleanup_us, result, raise_at_end, [steps]]
        for token in line.split():
            key, _, value = token.partition("=")
            if key == "workers":
                self.workers = int(value)
            elif key == "ext":
                self.ext = None if int(value) < 0 else int(value)
            elif key == "sigints":
                self.sigints = [int(v) for v in value.split(",") if v]
            elif key == "costs":
                self.costs = [int(v) for v in value.split(",") if v] or [1000]
            elif key == "choices":
                self.choices = value
            elif key == "T":
                f = value.split("/")
                self.tasks.append([f[0], int(f[1]), int(f[2]), f[3] == "1", []])
            elif key == "S":
                f = value.split("/")
                self.tasks[-1][4].append(
                    [f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), f[6] == "1"])

    def format(self):
        out = [f"workers={self.workers}", f"ext={-1 if self.ext is None else self.ext}",
               "sigints=" + ",".join(map(str, self.sigints)),
               "costs=" + ",".join(map(str, self.costs)), "choices=" + self.choices]
        for on_cancel, cleanup, result, raises, steps in self.tasks:
            out.append(f"T={on_cancel}/{cleanup}/{result}/{int(raises)}")
            for s in steps:
                out.append("S=" + "/".join(map(str, s[:6])) + f"/{int(s[6])}")
        return " ".join(out)
