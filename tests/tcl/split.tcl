# tclsh tests/tcl/split.tcl FILE.tcl
# Writes each top-level block of a test unit (a start_server, test, foreach or if command)
# as a unit of its own, FILE__pNN.tcl, preceded by the unit's top-level procs and variables,
# and prints the new files' paths. Run by `run.sh --split`: an error or a hang that ends a
# run of the suite then costs only the tests of its own block, for either server.
set path [lindex $argv 0]
set f [open $path]
set text [read $f]
close $f
set preamble ""
set blocks {}
set cmd ""
foreach line [split $text "\n"] {
    append cmd $line "\n"
    if {![info complete $cmd]} continue
    if {[regexp {^\s*([^\s#][^\s]*)} $cmd -> first]} {
        if {$first in {proc set source}} {
            append preamble $cmd
        } else {
            lappend blocks $cmd
        }
    }
    set cmd ""
}
set base [file rootname $path]
set n 0
foreach block $blocks {
    incr n
    set part [format "%s__p%02d.tcl" $base $n]
    set out [open $part w]
    puts -nonewline $out $preamble
    puts -nonewline $out $block
    close $out
    puts $part
}
